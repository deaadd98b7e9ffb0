using System.Buffers;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Channels;

namespace EdgeMlOps.Aggregator.Fleet;

/// <summary>
/// What the aggregator says to the fleet: retained statements (announcement, rollout plan, trust bundle), remembered so
/// that anything else found on those topics is replaced by the aggregator's own, and per-device messages (tasks).
/// The channel is attached once the aggregator has connected.
/// </summary>
public sealed class FleetPublisher(TimeProvider time)
{
    private readonly RetainedTopicGuard _retained = new(time);
    private IFleetChannel? _channel;

    /// <summary>True while the aggregator's own connection is up.</summary>
    public bool IsConnected => _channel?.IsConnected ?? false;

    /// <summary>The connected channel everything is published on (set once, at start).</summary>
    public void Attach(IFleetChannel channel) => _channel = channel;

    public Task PublishRetainedAsync(string topic, byte[] payload, CancellationToken cancellationToken) =>
        Channel.PublishAsync(topic, _retained.Remember(topic, payload), retain: true, cancellationToken);

    public Task PublishAsync(string topic, byte[] payload, CancellationToken cancellationToken) =>
        Channel.PublishAsync(topic, payload, retain: false, cancellationToken);

    /// <summary>
    /// Publishes again everything the aggregator retained: after a reconnection the broker may have lost its retained
    /// messages (restarted without persistence, or a new node of a cluster). Returns how many were restored.
    /// </summary>
    public async Task<int> RestoreRetainedAsync(CancellationToken cancellationToken)
    {
        var remembered = _retained.Remembered();
        foreach (var (topic, payload) in remembered) await PublishRetainedAsync(topic, payload, cancellationToken).ConfigureAwait(false);
        return remembered.Count;
    }

    /// <summary>When <paramref name="payload"/> on a retained topic is not the aggregator's, its own message to put back (else null).</summary>
    public byte[]? Restoration(string topic, ReadOnlySequence<byte> payload) => _retained.Restoration(topic, payload);

    private IFleetChannel Channel => _channel ?? throw new InvalidOperationException("The aggregator has not connected to its broker yet: nothing can be published.");
}
