using EdgeMlOps.Runtime.Channels;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Broker;

/// <summary>
/// The aggregator's first connection to an external broker, tried again with growing pauses (1, 2, 4, then every 5 s)
/// for up to <see cref="AggregatorOptions.BrokerStartupWaitSeconds"/>: a broker started beside the aggregator, or
/// failing over, is waited for as PostgreSQL is. A broker that answers and refuses (its ACL, a certificate it does not
/// take) is not waited for: trying again would not change its answer. Real time, not the node's clock: this waits on
/// the network.
/// </summary>
public static class BrokerStartupWait
{
    private static readonly TimeSpan LongestPause = TimeSpan.FromSeconds(5);

    /// <summary>Connects <paramref name="channel"/>, or throws the last failure once <paramref name="wait"/> is over.</summary>
    public static async Task ConnectAsync(IFleetChannel channel, TimeSpan wait, string broker, ILogger logger, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + wait;
        var pause = TimeSpan.FromSeconds(1);
        while (true)
        {
            try
            {
                await channel.ConnectAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException and not Runtime.Mqtt.BrokerRefusedException)
            {
                var left = deadline - DateTimeOffset.UtcNow;
                if (left <= TimeSpan.Zero) throw;
                var next = pause < left ? pause : left;
                logger.LogBrokerNotReachableYet(broker, ex.Message.TrimEnd('.'), next.TotalSeconds, left.TotalSeconds);
                await Task.Delay(next, cancellationToken).ConfigureAwait(false);
                pause = pause * 2 < LongestPause ? pause * 2 : LongestPause;
            }
        }
    }
}
