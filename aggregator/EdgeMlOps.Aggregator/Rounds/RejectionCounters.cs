using System.Collections.Concurrent;
using EdgeMlOps.Shared;

namespace EdgeMlOps.Aggregator.Rounds;

/// <summary>Rejected messages counted by reason (for the whole process lifetime).</summary>
public sealed class RejectionCounters
{
    private readonly ConcurrentDictionary<RejectionReason, long> _counts = new();

    public void Add(RejectionReason reason) => _counts.AddOrUpdate(reason, 1, (_, n) => n + 1);

    public long Total => _counts.Values.Sum();

    public long this[RejectionReason reason] => _counts.GetValueOrDefault(reason);

    /// <summary>
    /// The counts by reason, in reason order. Taken with the dictionary's own <c>ToArray</c> (a consistent copy): LINQ
    /// that buffers (<c>OrderBy</c>) copies through <c>ICollection.CopyTo</c>, which throws when a reason is counted for
    /// the first time during the copy.
    /// </summary>
    public IReadOnlyDictionary<string, long> Snapshot() =>
        _counts.ToArray().OrderBy(kv => kv.Key).ToDictionary(kv => kv.Key.ToString(), kv => kv.Value);
}
