using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Aggregator.Tracking;
using EdgeMlOps.Shared.Tracking;

namespace EdgeMlOps.Simulator;

/// <summary>
/// Builds a simulation's run record as it goes: parameters and arguments, the data fingerprint (the dataset's bytes and
/// each device's partition, hashed; sample counts per device), each round's contributors and metrics, and a SHA-256 per
/// tensor of every version the run made.
/// </summary>
internal sealed class SimulationRecorder
{
    /// <summary>Settings that do not change what the run computes (where files go, how much is printed).</summary>
    private static readonly HashSet<string> NotParameters = new(StringComparer.Ordinal)
    {
        nameof(SimulationOptions.Out), nameof(SimulationOptions.Experiments), nameof(SimulationOptions.CacheDirectory), nameof(SimulationOptions.WorkDirectory),
        nameof(SimulationOptions.Quiet), nameof(SimulationOptions.Arguments), nameof(SimulationOptions.ComputeSlots), nameof(SimulationOptions.WorkerSlice),
        nameof(SimulationOptions.TrustedRoot), nameof(SimulationOptions.FleetCaFile), nameof(SimulationOptions.EnrollUrl), nameof(SimulationOptions.EnrollTokenFile),
        nameof(SimulationOptions.StorePostgres), nameof(SimulationOptions.Replicas), nameof(SimulationOptions.ReplicaProcesses), nameof(SimulationOptions.ReplicaWorker),
    };

    private readonly AggregatorNode _aggregator;
    private readonly List<RunRound> _rounds = [];
    private readonly List<VersionFingerprint> _versions = [];
    private readonly RunRecord _started;

    public SimulationRecorder(SimulationOptions options, AggregatorOptions aggregatorOptions, SimulatedData data, AggregatorNode aggregator)
    {
        _aggregator = aggregator;
        var now = DateTimeOffset.UtcNow;
        _started = RunFacts.Start("simulator", now, aggregatorOptions, Parameters(options, aggregatorOptions), WithoutSecrets(options.Arguments), Fingerprint(data, options));
        Version(aggregator.CurrentVersion.Version, 0);
    }

    public string Id => _started.Id;

    public void Round(RoundReport report, double? accuracy, double? loss)
    {
        _rounds.Add(RunFacts.Round(report, accuracy, loss));
        if (report.NewVersion is { } v) Version(v, report.Round);
    }

    public RunRecord Finish(double? accuracy, double? loss) => _started with
    {
        EndedAt = DateTimeOffset.UtcNow,
        Rounds = _rounds.ToArray(),
        Versions = _versions.ToArray(),
        FinalAccuracy = accuracy,
        FinalLoss = loss,
    };

    private void Version(ulong version, long round) =>
        _versions.Add(RunFacts.Fingerprint(_aggregator.Registry, _aggregator.Artifacts, _aggregator.Options.ModelName, _aggregator.Options.Model, version, round));

    private static SortedDictionary<string, string> Parameters(SimulationOptions options, AggregatorOptions aggregatorOptions)
    {
        var parameters = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in typeof(SimulationOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (NotParameters.Contains(property.Name)) continue;
            var value = property.GetValue(options);
            parameters["simulator." + char.ToLowerInvariant(property.Name[0]) + property.Name[1..]] = value switch
            {
                null => "",
                int[] list => string.Join(",", list),
                System.Collections.IEnumerable items and not string => string.Join(",", items.Cast<object>().Select(i => Convert.ToString(i, CultureInfo.InvariantCulture))),
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => value.ToString() ?? "",
            };
        }

        var strategy = aggregatorOptions.Strategy;
        parameters["model.spec"] = aggregatorOptions.Model.ToString();
        parameters["strategy.name"] = strategy.Name;
        parameters["strategy.rule"] = strategy.Rule.ToString();
        parameters["strategy.exactSum"] = strategy.ExactSum ? "true" : "false";
        parameters["strategy.serverOptimizer"] = strategy.EffectiveServerOptimizer;
        parameters["strategy.compression"] = strategy.Compression.ToString();
        return parameters;
    }

    private static RunData Fingerprint(SimulatedData data, SimulationOptions options)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(MemoryMarshal.AsBytes(data.Pool.Features.AsSpan()));
        hash.AppendData(MemoryMarshal.AsBytes(data.Pool.Labels.AsSpan()));
        var perDevice = new SortedDictionary<string, long>(StringComparer.Ordinal);
        for (var d = 0; d < data.Parts.Length; d++)
        {
            hash.AppendData(MemoryMarshal.AsBytes(data.Parts[d].AsSpan()));
            perDevice[SimulatedDevices.DeviceId(d)] = data.Parts[d].Length;
        }

        return new RunData(data.Data.Name, options.Partition.ToString(), data.Parts.Length, data.Parts.Sum(p => (long)p.Length), Convert.ToHexStringLower(hash.GetHashAndReset()), perDevice);
    }

    /// <summary>The command line as recorded: a database password never goes into a run record (Npgsql reads it from PGPASSWORD or ~/.pgpass on a rerun).</summary>
    internal static IReadOnlyList<string> WithoutSecrets(IReadOnlyList<string> arguments) =>
        arguments.Select((a, i) => i > 0 && arguments[i - 1] == "--store-postgres"
            ? new Npgsql.NpgsqlConnectionStringBuilder(a) { Password = null }.ConnectionString
            : a).ToList();
}
