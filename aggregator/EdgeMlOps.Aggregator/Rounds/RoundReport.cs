namespace EdgeMlOps.Aggregator.Rounds;

/// <summary>How a round ended.</summary>
public enum RoundStatus
{
    /// <summary>Enough updates arrived; a new version was published.</summary>
    Completed,
    /// <summary>Fewer updates than the quorum by the deadline; the model was kept.</summary>
    Abandoned,
    /// <summary>Not enough eligible devices online to start.</summary>
    NotStarted,
    /// <summary>The strategy refuses further rounds (e.g. the privacy budget is spent).</summary>
    Stopped,
}

/// <summary>A round status as text: camelCase in JSON and in the registry, read back whatever its case.</summary>
public sealed class RoundStatusJsonConverter() : System.Text.Json.Serialization.JsonStringEnumConverter<RoundStatus>(System.Text.Json.JsonNamingPolicy.CamelCase)
{
    public static string Text(RoundStatus status) => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(status.ToString());

    public static RoundStatus Parse(string text) =>
        Enum.TryParse<RoundStatus>(text, ignoreCase: true, out var status) && Enum.IsDefined(status) ? status : throw new FormatException($"'{text}' is not a round status");
}

/// <summary>Everything an operator (or the simulator) wants to know about one round.</summary>
public sealed record RoundReport(
    long Round,
    string RoundId,
    RoundStatus Status,
    ulong BaseVersion,
    ulong? NewVersion,
    int Eligible,
    int Selected,
    int Target,
    int Contributors,
    long Samples,
    long Rejected,
    IReadOnlyDictionary<string, long> RejectedByReason,
    double? EvalAccuracy,
    double? EvalLoss,
    double TrainLoss,
    long BytesUp,
    TimeSpan Duration)
{
    /// <summary>Strategy figures for the round (ε spent, clip norm, mean staleness…).</summary>
    public IReadOnlyDictionary<string, double> Notes { get; init; } = new Dictionary<string, double>();

    /// <summary>The devices whose updates made the version, with the samples each trained on.</summary>
    public IReadOnlyDictionary<string, long> Contributions { get; init; } = new Dictionary<string, long>();

    /// <summary>The most accepted updates that arrived within one second (the ingest peak pace steering flattens).</summary>
    public int PeakUpdatesPerSecond { get; init; }

    /// <summary>Seconds from the first accepted update to the last.</summary>
    public double ArrivalSpreadSeconds { get; init; }

    /// <summary>A multi-task model's held-out score of each task for the new version; null for another model.</summary>
    public IReadOnlyList<Runtime.TaskScore>? EvalTasks { get; init; }

    /// <summary>Why the round did not run, when <see cref="Status"/> is <see cref="RoundStatus.Stopped"/>.</summary>
    public string? StopReason { get; init; }
}
