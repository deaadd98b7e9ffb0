using System.Reflection;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared.Onnx;
using System.Runtime.InteropServices;
using EdgeMlOps.Shared.Models;

using EdgeMlOps.Shared.Tracking;

namespace EdgeMlOps.Aggregator.Tracking;

/// <summary>What a run record says about the code, the packages and the machine, read from the running process.</summary>
public static class RunFacts
{
    /// <summary>Third-party assemblies whose versions can change a result.</summary>
    private static readonly (string Name, Type Type)[] PackageTypes =
    [
        ("Microsoft.ML.OnnxRuntime", typeof(Microsoft.ML.OnnxRuntime.InferenceSession)),
        ("MQTTnet", typeof(MQTTnet.MqttClientFactory)),
        ("Google.Protobuf", typeof(Google.Protobuf.MessageParser)),
        ("Microsoft.Data.Sqlite", typeof(Microsoft.Data.Sqlite.SqliteConnection)),
        ("System.Numerics.Tensors", typeof(System.Numerics.Tensors.TensorPrimitives)),
    ];

    /// <summary>The commit from the informational version (<c>1.0.0+SHA</c>, written by the SDK's SourceLink), or "unknown".</summary>
    public static RunCode Code()
    {
        var informational = typeof(RunFacts).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        return new RunCode(plus > 0 ? informational[(plus + 1)..] : "unknown", plus > 0 ? informational[..plus] : informational);
    }

    public static RunEnvironmentInfo Environment() => new(
        RuntimeInformation.OSDescription,
        RuntimeInformation.FrameworkDescription,
        RuntimeInformation.ProcessArchitecture.ToString(),
        System.Environment.ProcessorCount,
        PackageTypes.ToDictionary(p => p.Name, p => Version(p.Type.Assembly), StringComparer.Ordinal));

    public static RunModel Model(string name, ModelSpec spec) => new(name, spec.ToString(), spec.InputDim, spec.Classes);

    /// <summary>One SHA-256 per parameter tensor of <paramref name="weights"/>, over its little-endian float bytes.</summary>
    public static IReadOnlyDictionary<string, string> TensorHashes(ModelWeights weights) =>
        weights.Layout.Tensors.ToDictionary(
            t => t.Name,
            t => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(MemoryMarshal.AsBytes(weights.Values.AsSpan(t.Offset, t.Length)))),
            StringComparer.Ordinal);

    /// <summary>A run record as it starts: id, kind, time, code, environment, model interface, parameters, arguments, data.</summary>
    public static RunRecord Start(string kind, DateTimeOffset at, AggregatorOptions options, IReadOnlyDictionary<string, string> parameters, IReadOnlyList<string> arguments, RunData data) => new()
    {
        Id = NewId(at),
        Kind = kind,
        StartedAt = at,
        Code = Code(),
        Environment = Environment(),
        Model = Model(options.ModelName, options.Model),
        Parameters = parameters,
        Arguments = arguments,
        Data = data,
    };

    /// <summary>A round as a run record keeps it.</summary>
    public static RunRound Round(RoundReport report, double? accuracy, double? loss) =>
        new(report.Round, report.Status.ToString(), report.BaseVersion, report.NewVersion, report.Selected, report.Contributors, report.Samples,
            accuracy, loss, report.TrainLoss, report.Duration.TotalSeconds, new SortedDictionary<string, long>(report.Contributions.ToDictionary(), StringComparer.Ordinal));

    /// <summary>A registered version by content: its inference artifact's hash and a hash per tensor of its weights.</summary>
    public static VersionFingerprint Fingerprint(ModelRegistry registry, ArtifactStore artifacts, string model, ModelSpec spec, ulong version, long round)
    {
        var record = registry.Version(model, version) ?? throw new InvalidOperationException($"v{version} is not in the registry");
        var weights = ModelArtifacts.ReadWeights(artifacts.Read(record.InferenceSha256), spec);
        return new VersionFingerprint(version, round, record.InferenceSha256, TensorHashes(weights));
    }

    /// <summary>A new run id: time and a random suffix (sortable, unique across machines).</summary>
    public static string NewId(DateTimeOffset at) => $"run-{at.UtcDateTime:yyyyMMdd-HHmmss}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3))}";

    private static string Version(Assembly assembly)
    {
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        return informational is null ? assembly.GetName().Version?.ToString() ?? "unknown" : informational.Split('+')[0];
    }
}
