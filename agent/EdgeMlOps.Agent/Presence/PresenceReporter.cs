using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent.Presence;

/// <summary>
/// The device's retained status: published on (re)connect, every <see cref="AgentOptions.StatusInterval"/>, soon
/// after local data changed (coalesced: a burst of feedback sends one status, at most about once a second), and as
/// OFFLINE on a clean stop. The status itself comes from <c>snapshot</c>, which the agent composes from its services.
/// </summary>
internal sealed class PresenceReporter(IFleetChannel channel, Topics topics, string deviceId, TimeSpan interval, TimeProvider time, Func<DeviceState, DeviceStatus> snapshot, ILogger logger)
{
    private readonly SemaphoreSlim _signal = new(0);
    private int _requested;

    /// <summary>Asks for a status refresh soon (coalesced).</summary>
    public void Request()
    {
        if (Interlocked.Exchange(ref _requested, 1) == 0) _signal.Release();
    }

    /// <summary>Publishes a status now.</summary>
    public async Task PublishAsync(DeviceState state, CancellationToken cancellationToken) =>
        await channel.PublishAsync(topics.Status(deviceId), snapshot(state).ToByteArray(), retain: true, cancellationToken).ConfigureAwait(false);

    /// <summary>Publishes at the interval or on request while connected, until <paramref name="stopping"/> fires.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                // Wake at the interval, or soon after local data changed (at most once a second).
                if (await SignalWait.WaitAsync(_signal, interval, time, stopping).ConfigureAwait(false))
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), time, stopping).ConfigureAwait(false);
                }

                Interlocked.Exchange(ref _requested, 0);
                if (!channel.IsConnected) continue;
                try
                {
                    await PublishAsync(DeviceState.Online, stopping).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.PublishFailed("status", ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
