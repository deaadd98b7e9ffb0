using System.Buffers;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Channels;

namespace EdgeMlOps.Aggregator.Fleet;

/// <summary>
/// What the aggregator says to the fleet: retained statements (announcement, rollout plan, trust bundle), remembered so
/// that anything else found on those topics is replaced by the aggregator's own, each followed by a freshness statement
/// naming them all (<see cref="FleetTimestamps"/>), and per-device messages (tasks). The channel is attached once the
/// aggregator has connected.
/// </summary>
public sealed class FleetPublisher(TimeProvider time, FleetTimestamps? timestamps = null)
{
    private readonly RetainedTopicGuard _retained = new(time);
    // Retained statements and the freshness statement naming them go out one set at a time, so the last statement
    // published names the last payloads published.
    private readonly SemaphoreSlim _retainedOrder = new(1, 1);
    private IFleetChannel? _channel;

    /// <summary>True while the aggregator's own connection is up.</summary>
    public bool IsConnected => _channel?.IsConnected ?? false;

    /// <summary>How often a freshness statement must be issued even when nothing changed (null: no timestamp role).</summary>
    public TimeSpan? TimestampPeriod => timestamps?.Period;

    /// <summary>The connected channel everything is published on (set once, at start).</summary>
    public void Attach(IFleetChannel channel) => _channel = channel;

    public Task PublishRetainedAsync(string topic, byte[] payload, CancellationToken cancellationToken) => PublishRetainedAsync(topic, () => payload, cancellationToken);

    /// <summary>
    /// Publishes a retained statement (kept for republishing on reconnection, then vouched for by a freshness statement),
    /// its payload made by <paramref name="make"/> once this publisher's turn has come: a statement stamped with
    /// its issue time (a revocation list, the catalogue) goes out in the order it was stamped, so the one retained is
    /// always the newest — two revocations at once could otherwise leave the first, shorter list retained.
    /// </summary>
    public async Task PublishRetainedAsync(string topic, Func<byte[]> make, CancellationToken cancellationToken)
    {
        await _retainedOrder.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Channel.PublishAsync(topic, _retained.Remember(topic, make()), retain: true, cancellationToken).ConfigureAwait(false);
            if (topic != timestamps?.Topic) await VouchLockedAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _retainedOrder.Release();
        }
    }

    /// <summary>Issues a fresh freshness statement for what is retained now (nothing without the timestamp role).</summary>
    public async Task VouchAsync(CancellationToken cancellationToken)
    {
        await _retainedOrder.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await VouchLockedAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _retainedOrder.Release();
        }
    }

    public Task PublishAsync(string topic, byte[] payload, CancellationToken cancellationToken) =>
        Channel.PublishAsync(topic, payload, retain: false, cancellationToken);

    /// <summary>Clears what the broker retains on a topic that is not the aggregator's own statement (a forgotten device's status): an empty retained message.</summary>
    public Task ClearRetainedAsync(string topic, CancellationToken cancellationToken) =>
        Channel.PublishAsync(topic, [], retain: true, cancellationToken);

    /// <summary>
    /// Publishes again everything the aggregator retained: after a reconnection the broker may have lost its retained
    /// messages (restarted without persistence, or a new node of a cluster). The freshness statement is issued anew
    /// rather than replayed. Returns how many statements were restored.
    /// </summary>
    public async Task<int> RestoreRetainedAsync(CancellationToken cancellationToken)
    {
        await _retainedOrder.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var remembered = _retained.Remembered().Where(r => r.Topic != timestamps?.Topic).ToArray();
            foreach (var (topic, payload) in remembered) await Channel.PublishAsync(topic, payload, retain: true, cancellationToken).ConfigureAwait(false);
            await VouchLockedAsync(cancellationToken).ConfigureAwait(false); // one statement for the whole set
            return remembered.Length;
        }
        finally
        {
            _retainedOrder.Release();
        }
    }

    /// <summary>When <paramref name="payload"/> on a retained topic is not the aggregator's, its own message to put back (else null).</summary>
    public byte[]? Restoration(string topic, ReadOnlySequence<byte> payload) => _retained.Restoration(topic, payload);

    private async Task VouchLockedAsync(CancellationToken cancellationToken)
    {
        if (timestamps is null) return;
        var statement = timestamps.Vouch(_retained.Remembered());
        await Channel.PublishAsync(timestamps.Topic, _retained.Remember(timestamps.Topic, statement), retain: true, cancellationToken).ConfigureAwait(false);
    }

    private IFleetChannel Channel => _channel ?? throw new InvalidOperationException("The aggregator has not connected to its broker yet: nothing can be published.");
}
