namespace EdgeMlOps.Shared.Tracking;

/// <summary>
/// Everything needed to compare a training run with another and to re-create its versions (MLflow's run, for a fleet):
/// what ran (code commit, package versions, environment), with what (every parameter, the arguments that started it,
/// the model's interface), on what (a fingerprint of the data: per-device sample counts, never a sample), what each
/// round did (contributors with their sample counts, metrics) and what each version is (a SHA-256 per tensor).
/// </summary>
public sealed record RunRecord
{
    public required string Id { get; init; }

    /// <summary><c>simulator</c> or <c>aggregator</c>.</summary>
    public required string Kind { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    public DateTimeOffset? EndedAt { get; init; }

    public required RunCode Code { get; init; }

    public required RunEnvironmentInfo Environment { get; init; }

    public required RunModel Model { get; init; }

    /// <summary>Every setting that shaped the run, flattened to <c>section.key</c> → text (what <c>compare</c> diffs).</summary>
    public required IReadOnlyDictionary<string, string> Parameters { get; init; }

    /// <summary>The command-line arguments that start the same run again (simulator runs).</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    public required RunData Data { get; init; }

    public IReadOnlyList<RunRound> Rounds { get; init; } = [];

    /// <summary>Older rounds left out of a long run's record (their versions too); the registry still has them.</summary>
    public int OmittedRounds { get; init; }

    public IReadOnlyList<VersionFingerprint> Versions { get; init; } = [];

    public double? FinalAccuracy { get; init; }

    public double? FinalLoss { get; init; }
}

/// <summary>The code that ran: the commit the binaries were built from (SourceLink's informational version) and the product version.</summary>
public sealed record RunCode(string Commit, string Version);

/// <summary>Where it ran.</summary>
public sealed record RunEnvironmentInfo(string Os, string Runtime, string Architecture, int Processors, IReadOnlyDictionary<string, string> Packages);

/// <summary>The model's interface: name, architecture, inputs and classes.</summary>
public sealed record RunModel(string Name, string Spec, int Inputs, int Classes);

/// <summary>
/// A fingerprint of the training data without any of it: the dataset's name and partition, per-device sample counts,
/// and a SHA-256 over what each device was given (simulator: the sample indices of its partition).
/// </summary>
public sealed record RunData(string Name, string Partition, int Devices, long Samples, string Fingerprint, IReadOnlyDictionary<string, long> SamplesPerDevice);

/// <summary>One round: its outcome, metrics and who contributed with how many samples.</summary>
public sealed record RunRound(
    long Round,
    string Status,
    ulong BaseVersion,
    ulong? NewVersion,
    int Selected,
    int Contributors,
    long Samples,
    double? Accuracy,
    double? Loss,
    double TrainLoss,
    double Seconds,
    IReadOnlyDictionary<string, long> Contributions);

/// <summary>A version by content: the inference artifact's SHA-256 and one SHA-256 per parameter tensor (bit identity).</summary>
public sealed record VersionFingerprint(ulong Version, long Round, string InferenceSha256, IReadOnlyDictionary<string, string> Tensors);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[System.Text.Json.Serialization.JsonSerializable(typeof(RunRecord))]
public sealed partial class TrackingJson : System.Text.Json.Serialization.JsonSerializerContext;
