using System.Diagnostics;
using MQTTnet.Exceptions;

namespace EdgeMlOps.Runtime.Mqtt;

/// <summary>
/// One wait on the broker — a connect attempt, a SUBACK, a PUBACK — bounded by the transport itself. MQTTnet's own
/// timeout does not bound these waits when the caller's token can be cancelled (the agent's, the reconnect loop's):
/// a broker that took the connection and then stalled held its caller for good.
/// </summary>
internal static class BrokerWait
{
    /// <summary>
    /// Runs <paramref name="call"/> with a token that also fires after <paramref name="limit"/>. Past the limit it throws
    /// a <see cref="TimeoutException"/> saying <paramref name="what"/> (the caller's "failed attempt"); the caller's own
    /// cancellation stays an <see cref="OperationCanceledException"/>.
    /// </summary>
    public static async Task<T> WithinAsync<T>(Func<CancellationToken, Task<T>> call, TimeSpan limit, Func<string> what, CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(limit);
        var started = Stopwatch.GetTimestamp();
        try
        {
            return await call(bounded.Token).ConfigureAwait(false);
        }
        catch (MqttCommunicationTimedOutException ex) when (cancellationToken.IsCancellationRequested)
        {
            // MQTTnet reports a cancelled wait for an acknowledgement as a timeout, which callers would take for a broken connection.
            throw new OperationCanceledException($"cancelled while waiting: {what()}", ex, cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && TimedOut(ex, Stopwatch.GetElapsedTime(started), limit))
        {
            throw new TimeoutException($"{what()} within {limit.TotalSeconds:0.#} s", ex);
        }
    }

    // Past the limit MQTTnet reports a cancellation (this token), its own timeout, or — for CONNECT never acknowledged, by
    // its own timer, which may fire a moment before this one — a closed connection.
    private static bool TimedOut(Exception ex, TimeSpan elapsed, TimeSpan limit) =>
        ex is OperationCanceledException or MqttCommunicationTimedOutException || (ex is MqttCommunicationException && elapsed >= limit * 0.9);
}
