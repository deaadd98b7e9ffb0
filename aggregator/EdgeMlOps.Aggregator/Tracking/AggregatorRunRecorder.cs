using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared.Tracking;

namespace EdgeMlOps.Aggregator.Tracking;

/// <summary>
/// The aggregator's own training run, recorded as it goes (<c>DataDirectory/experiments/RUN.json</c>, rewritten after
/// every round that ran): code, environment, model interface, the training parameters (rounds, strategy, seed), each
/// round's contributors with their sample counts and metrics, a hash per tensor of every version, and a fingerprint of
/// the data as the devices reported it (sample counts per device — the devices' data never leaves them). An aggregator
/// that trains for months keeps the newest <see cref="MaxRecordedRounds"/> rounds and versions in the record (the older
/// ones are counted in <see cref="RunRecord.OmittedRounds"/>; the registry keeps every round and version), so the file
/// rewritten after each round stays bounded.
/// </summary>
public sealed class AggregatorRunRecorder
{
    /// <summary>Rounds (and the versions they made) a record keeps, newest first dropped last.</summary>
    public const int MaxRecordedRounds = 1000;

    private readonly Lock _gate = new();
    private readonly AggregatorOptions _options;
    private readonly ModelRegistry _registry;
    private readonly ArtifactStore _artifacts;
    private readonly TimeProvider _time;
    private readonly RunStore _store;
    private readonly List<RunRound> _rounds = [];
    private readonly List<VersionFingerprint> _versions = [];
    private readonly SortedDictionary<string, long> _samples = new(StringComparer.Ordinal);
    private RunRecord _record;
    private int _omitted;

    public AggregatorRunRecorder(AggregatorOptions options, ModelRegistry registry, ArtifactStore artifacts, TimeProvider time)
    {
        _options = options;
        _registry = registry;
        _artifacts = artifacts;
        _time = time;
        _store = new RunStore(Path.Combine(options.DataDirectory, "experiments"));
        _record = RunFacts.Start("aggregator", time.GetUtcNow(), options, Parameters(options),
            System.Environment.GetCommandLineArgs().Skip(1).Where(a => !new[] { "Token", "Secret", "Password", "Key" }.Any(word => a.Contains(word, StringComparison.OrdinalIgnoreCase))).ToArray(),
            new RunData("devices' own", "-", 0, 0, string.Empty, new Dictionary<string, long>()));
    }

    public string Id => _record.Id;

    /// <summary>Where the record is written.</summary>
    public string Directory => _store.Directory;

    /// <summary>Adds a round that ran (not one that could not start) and writes the record.</summary>
    public void Round(RoundReport report)
    {
        if (report.Status is RoundStatus.NotStarted or RoundStatus.Stopped) return;
        lock (_gate)
        {
            foreach (var (device, samples) in report.Contributions) _samples[device] = samples;
            _rounds.Add(RunFacts.Round(report, report.EvalAccuracy, report.EvalLoss));
            if (report.NewVersion is { } v) _versions.Add(RunFacts.Fingerprint(_registry, _artifacts, _options.ModelName, _options.Model, v, report.Round));
            if (_rounds.Count > MaxRecordedRounds)
            {
                var oldest = _rounds[0].Round;
                _rounds.RemoveAt(0);
                _versions.RemoveAll(x => x.Round <= oldest);
                _omitted++;
            }

            _record = _record with
            {
                EndedAt = _time.GetUtcNow(),
                Rounds = _rounds.ToArray(),
                Versions = _versions.ToArray(),
                Data = new RunData("devices' own", "-", _samples.Count, _samples.Values.Sum(), Fingerprint(_samples), new SortedDictionary<string, long>(_samples, StringComparer.Ordinal)),
                FinalAccuracy = report.EvalAccuracy ?? _record.FinalAccuracy,
                FinalLoss = report.EvalLoss ?? _record.FinalLoss,
                OmittedRounds = _omitted,
            };
            _store.Save(_record);
        }
    }

    /// <summary>SHA-256 over the devices' latest reported sample counts, in device order.</summary>
    private static string Fingerprint(SortedDictionary<string, long> samples)
    {
        var text = string.Join('\n', samples.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Key}:{s.Value}")));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    /// <summary>The settings that shape training: fleet, model, seed, rounds and strategy (secrets and paths are not parameters).</summary>
    private static SortedDictionary<string, string> Parameters(AggregatorOptions options)
    {
        var parameters = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["fleet"] = options.Fleet,
            ["model.name"] = options.ModelName,
            ["model.spec"] = options.Model.ToString(),
            ["seed"] = options.Seed.ToString(CultureInfo.InvariantCulture),
            ["governance.mode"] = options.Governance.Mode.ToString(),
        };
        Flatten("rounds", options.Rounds, parameters);
        Flatten("strategy", options.Strategy, parameters);
        if (options.Strategy.Dp is { } dp) Flatten("strategy.dp", dp, parameters);
        return parameters;
    }

    private static void Flatten(string prefix, object settings, SortedDictionary<string, string> into)
    {
        foreach (var property in settings.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0) continue;
            var value = property.GetValue(settings);
            var text = value switch
            {
                null => null,
                string s => s,
                bool b => b ? "true" : "false",
                Enum e => e.ToString(),
                TimeSpan t => t.TotalSeconds.ToString(CultureInfo.InvariantCulture) + "s",
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ when value.GetType().IsValueType || value.GetType().Name.EndsWith("Settings", StringComparison.Ordinal) => value.ToString(),
                _ => null, // nested option objects are flattened on their own or are not training parameters
            };
            if (text is not null) into[prefix + "." + char.ToLowerInvariant(property.Name[0]) + property.Name[1..]] = text;
        }
    }
}
