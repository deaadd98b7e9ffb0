using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Lines;

/// <summary>
/// One further model the fleet runs (<c>Aggregator:Lines:NAME:...</c>), a model line: its name (a topic segment, the
/// model's name in its registry, how a device's local API addresses it), the cohort of devices that run it, what it
/// asks of a device's memory, and every setting of its own (<see cref="Options"/>: the model, its interface, rounds,
/// strategy, governance, monitoring, its API's address — the fleet's settings with the line's on top, its stores under
/// <c>DATA/lines/NAME</c>, its signing keys certified by the fleet's root).
/// </summary>
public sealed record ModelLineOptions(string Name, AggregatorOptions Options, IReadOnlyDictionary<string, IReadOnlyList<string>> Cohort, ulong MemoryRequestBytes)
{
    /// <summary>Memory a line asks of a device unless <c>MemoryMb</c> says otherwise.</summary>
    public const int DefaultMemoryMb = 64;

    /// <summary>
    /// The common name of a line's aggregator certificate (<c>aggregator-line-{name}</c>): a broker that takes the
    /// certificate's name as the client id (Mosquitto's <c>use_username_as_clientid</c>) gives each model's aggregator a
    /// session of its own, and the generated ACL gives it its line's topics and the fleet's device statuses alone.
    /// </summary>
    public const string IdentityPrefix = "aggregator-line-";

    /// <summary>The identity this line's aggregator connects to the fleet's broker with.</summary>
    public string Identity => IdentityPrefix + Name;

    /// <summary>The line as the signed catalogue names it to devices.</summary>
    public ModelLine ToCatalogueEntry()
    {
        var line = new ModelLine { Name = Name, MemoryRequestBytes = MemoryRequestBytes };
        foreach (var (tag, values) in Cohort) line.Cohort[tag] = new CohortValues { Values = { values } };
        return line;
    }
}
