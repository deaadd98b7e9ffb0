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

    public IReadOnlyDictionary<string, long> Snapshot() =>
        _counts.OrderBy(kv => kv.Key).ToDictionary(kv => kv.Key.ToString(), kv => kv.Value);
}
