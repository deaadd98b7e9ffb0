using System.Reflection;
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

    /// <summary>A new run id: time and a random suffix (sortable, unique across machines).</summary>
    public static string NewId(DateTimeOffset at) => $"run-{at.UtcDateTime:yyyyMMdd-HHmmss}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3))}";

    private static string Version(Assembly assembly)
    {
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        return informational is null ? assembly.GetName().Version?.ToString() ?? "unknown" : informational.Split('+')[0];
    }
}
