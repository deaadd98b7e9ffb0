using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Edge;

/// <summary>
/// A gateway's way up: the partials its site's rounds owe (stamped with the gateway's header) and the device messages it
/// relays, sent in order whenever there is news and at least every quarter second; what the fleet's broker does not take
/// stays queued (<see cref="UpstreamQueue"/>) for the next attempt — the site works on while the link is down; what it
/// refuses outright (its ACL) is dropped and counted, so it never holds up the messages behind it.
/// </summary>
internal sealed class UpstreamSender(IFleetChannel upstream, SiteRounds rounds, AggregatorOptions options, string gatewayId, TimeProvider time, ILogger logger)
{
    private readonly Topics _topics = new(options.Fleet, options.Line); // a model line's partials go to its own topics
    private readonly UpstreamQueue _queue = new();
    private readonly SemaphoreSlim _wake = new(0);
    private long _sequence;
    private long _partialsSent;
    private long _partialBytes;
    private long _refused;

    public long PartialsSent => Interlocked.Read(ref _partialsSent);

    public long PartialBytes => Interlocked.Read(ref _partialBytes);

    public int Pending => _queue.Count;

    /// <summary>Messages the fleet's broker refused outright (dropped, not retried).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    public long Dropped => _queue.Dropped;

    /// <summary>A device's message to relay as it is (a status retained, as the device's own is: a restarted aggregator reads it).</summary>
    public void Relay(string topic, byte[] payload, bool retain)
    {
        _queue.Enqueue(topic, payload, retain);
        Wake();
    }

    /// <summary>Something may be due or sendable now (an update folded, the link back).</summary>
    public void Wake()
    {
        if (_wake.CurrentCount == 0) _wake.Release();
    }

    /// <summary>Runs until <paramref name="cancellationToken"/> fires.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await _wake.WaitAsync(TimeSpan.FromMilliseconds(250), cancellationToken).ConfigureAwait(false);
                foreach (var partial in rounds.TakeDue(time.GetUtcNow(), options.Edge))
                {
                    partial.Header = ProtocolInfo.NewHeader(options.ProtocolFleet, gatewayId, (ulong)Interlocked.Increment(ref _sequence), time.GetUtcNow().ToUnixTimeMilliseconds());
                    _queue.EnqueuePartial(_topics.GatewayPartial(gatewayId), partial.ToByteArray(), partial.Share.RoundId, partial.Share.Contributors.Count);
                }

                await SendQueuedAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped. The semaphore is not disposed: a late wake (a reconnection, a last message) must not throw.
        }
    }

    private async Task SendQueuedAsync(CancellationToken cancellationToken)
    {
        while (_queue.TryPeek(out var message))
        {
            try
            {
                await upstream.PublishAsync(message.Topic, message.Payload, message.Retain, cancellationToken).ConfigureAwait(false);
            }
            catch (Runtime.Mqtt.BrokerRefusedException ex)
            {
                // The fleet's broker said no (its list of this site's devices differs from the gateway's): sending it again
                // would not help and would hold up everything behind it.
                _queue.Remove(message);
                Interlocked.Increment(ref _refused);
                logger.LogUpstreamRefused(gatewayId, message.Topic, ex.Message);
                continue;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogUpstreamUnreachable(gatewayId, _queue.Count, ex.Message);
                return; // kept, in order, for the next attempt
            }

            _queue.Remove(message);
            if (message.RoundId is { } roundId)
            {
                Interlocked.Increment(ref _partialsSent);
                Interlocked.Add(ref _partialBytes, message.Payload.Length);
                logger.LogPartialSent(gatewayId, roundId, message.Updates, message.Payload.Length);
            }
        }
    }
}
