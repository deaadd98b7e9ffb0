using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Fleet;

/// <summary>Stamps every message the aggregator sends (announcements, tasks): fleet, sender, a growing sequence, the time.</summary>
public sealed class AggregatorHeaders(string fleet, TimeProvider time)
{
    private long _sequence;

    public Header Next() =>
        ProtocolInfo.NewHeader(fleet, $"aggregator-{fleet}", (ulong)Interlocked.Increment(ref _sequence), time.GetUtcNow().ToUnixTimeMilliseconds());
}
