using EdgeMlOps.Aggregator.Storage;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Aggregator.Replicas;

/// <summary>
/// Aggregator replicas sharing one fleet (<c>Aggregator:Replicas:*</c>, docs/SCALING.md): device updates are spread over
/// the replicas by an MQTT 5 shared subscription; each folds what it receives into a share of the round in the shared
/// store; the leader (the coordinator) combines the shares. Off when <see cref="Name"/> is not set.
/// </summary>
public sealed record ReplicaOptions
{
    /// <summary>The shared subscription group every replica joins.</summary>
    public const string Group = "aggregators";

    /// <summary>The prefix of a standing-by replica's certificate name (<c>aggregator-replica-{name}</c>).</summary>
    public const string IdentityPrefix = "aggregator-replica-";

    public const int MaxNameLength = 32;

    /// <summary>This process's replica name (letters, digits, '-'); null: no replicas.</summary>
    public string? Name { get; init; }

    /// <summary>Every replica's name: what <c>--write-mosquitto-config</c> grants read access to device updates.</summary>
    public IReadOnlyList<string> Members { get; init; } = [];

    /// <summary>How often a replica writes its share of an open round to the store.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The model line whose rounds these settings share (null: the fleet's first model).</summary>
    public string? Line { get; init; }

    /// <summary>Between a replica's name and a line's in a line worker's identity: never in a replica's name, so no other replica's identity.</summary>
    public const char LineSeparator = '_';

    public bool Enabled => Name is not null;

    /// <summary>The certificate name a standing-by replica connects with (for a model line's rounds: <c>aggregator-replica-{name}_{line}</c>).</summary>
    public string Identity => LineIdentity(Name!, Line);

    /// <summary>The certificate name replica <paramref name="name"/> takes a share of <paramref name="line"/>'s updates with (null: the first model's).</summary>
    public static string LineIdentity(string name, string? line) => IdentityPrefix + name + (line is null ? string.Empty : LineSeparator + line);

    /// <summary>The subscription filter a replica (and the coordinator) reads device updates with.</summary>
    public static string Shared(string filter) => $"$share/{Group}/{filter}";

    public IEnumerable<(string Key, string Problem)> Problems(StoreOptions store, RoundMode mode, StrategyOptions strategy, ModelSpec model)
    {
        foreach (var name in Members.Append(Name).OfType<string>())
        {
            if (name.Length is 0 or > MaxNameLength || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                yield return ("Replicas", $"'{name}' is not a replica name (1–{MaxNameLength} letters, digits or '-')");
            }
        }

        if (FlushInterval < TimeSpan.FromMilliseconds(20) || FlushInterval > TimeSpan.FromSeconds(10)) yield return ("Replicas:FlushMilliseconds", "must be between 20 and 10000");
        if (!Enabled) yield break;
        if (!Members.Contains(Name)) yield return ("Replicas:Members", $"must list this replica's name '{Name}' (the broker's ACL is written from it)");
        if (store.Engine != StoreEngine.PostgreSql) yield return ("Replicas:Name", "replicas share their rounds through PostgreSQL: set Store:Engine=postgresql");
        if (mode != RoundMode.Synchronous) yield return ("Replicas:Name", "replicas share synchronous rounds; Rounds:Mode 'buffered' runs in one process");
        if (strategy.Dp is not null) yield return ("Replicas:Name", "differential privacy clips against a clip norm the coordinator adapts: run it in one process");
        else if (strategy.Errors().Any()) yield break;
        else if (StandardStrategy.Create(strategy).CreateCombiner(new RoundContext(0, 1, 1, 1, 0), ParameterLayout.For(model)) is not IPartialCombiner)
        {
            yield return ("Replicas:Name", $"the '{strategy.Name}' rule needs every update in one process (only mean rules add up across replicas)");
        }
    }

    public static ReplicaOptions Read(ConfigReader r) => new()
    {
        Name = r.OptionalString("Replicas:Name"),
        Members = (r.OptionalString("Replicas:Members") ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        FlushInterval = TimeSpan.FromMilliseconds(r.Double("Replicas:FlushMilliseconds", 250, 20, 10_000)),
    };
}
