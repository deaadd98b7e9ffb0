using EdgeMlOps.Aggregator.Broker;

namespace EdgeMlOps.Aggregator.Fleet;

/// <summary>What the aggregator served (artifact bytes) and the broker it runs, if any (set when started; null with an external or in-memory broker).</summary>
public sealed class FleetTraffic
{
    private long _artifactBytes;

    public long ArtifactBytesServed => Interlocked.Read(ref _artifactBytes);

    public EmbeddedBroker? Broker { get; internal set; }

    /// <summary>Messages the embedded broker dropped (0 without one).</summary>
    public long BrokerDroppedMessages => Broker?.DroppedMessages ?? 0;

    public void CountArtifact(long bytes) => Interlocked.Add(ref _artifactBytes, bytes);
}
