using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Runtime.Channels;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent.Messaging;

/// <summary>
/// Store and forward: what the device produces (updates, evaluations, profiles) is queued durably in the outbox and
/// sent oldest first whenever the channel is connected; a message leaves the outbox only once the broker acknowledged it
/// and a session took it (not for a broker that answers "no matching subscribers").
/// </summary>
internal sealed class OutboxPump(IFleetChannel channel, Outbox outbox, StorageHealth storage, AgentCounters counters, TimeProvider time, ILogger logger)
{
    private readonly SemaphoreSlim _signal = new(0);

    /// <summary>Queues a message durably and wakes the pump (a storage failure surfaces as <see cref="StorageUnavailableException"/>).</summary>
    public void Send(string topic, byte[] payload)
    {
        storage.Write("outgoing message", () => outbox.Enqueue(topic, payload), needsDisk: false);
        _signal.Release();
    }

    /// <summary>Wakes the pump (the channel (re)connected, or the aggregator spoke and so is listening again).</summary>
    public void Wake() => _signal.Release();

    /// <summary>Sends while connected; after a failure waits for the next (re)connection or message. Ends when <paramref name="stopping"/> fires.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                // Also wake periodically, in case a signal raced with a disconnect.
                await SignalWait.WaitAsync(_signal, TimeSpan.FromSeconds(5), time, stopping).ConfigureAwait(false);
                try
                {
                    await DrainAsync(stopping).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
                {
                    // Usually the connection dropped mid-publish; the message stays queued.
                    logger.PublishFailed("outbox", ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task DrainAsync(CancellationToken stopping)
    {
        while (channel.IsConnected && !stopping.IsCancellationRequested)
        {
            var batch = outbox.Peek(32);
            if (batch.Count == 0) return;
            foreach (var message in batch)
            {
                if (!await channel.PublishAsync(message.Topic, message.Payload, retain: false, stopping).ConfigureAwait(false))
                {
                    // The broker took it but no session did (a broker restarted empty, the aggregator not back yet):
                    // it reached nobody, so it stays queued and goes again at the next wake.
                    Interlocked.Increment(ref counters.OutboxUnheard);
                    return;
                }

                outbox.Acknowledge(message.Id);
                Interlocked.Increment(ref counters.OutboxSent);
            }
        }
    }
}
