namespace EdgeMlOps.Agent;

/// <summary>Waiting for a signal or a timeout measured on the injected clock (so tests on a fake clock control it).</summary>
internal static class SignalWait
{
    /// <summary>True when <paramref name="signal"/> was taken, false when <paramref name="timeout"/> passed on <paramref name="time"/>; throws when <paramref name="stopping"/> fires.</summary>
    public static async Task<bool> WaitAsync(SemaphoreSlim signal, TimeSpan timeout, TimeProvider time, CancellationToken stopping)
    {
        using var expiry = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(expiry.Token, stopping);
        try
        {
            await signal.WaitAsync(linked.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            return false;
        }
    }
}
