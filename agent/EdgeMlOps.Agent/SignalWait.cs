namespace EdgeMlOps.Agent;

/// <summary>Waiting for a signal or a timeout measured on the injected clock (so tests on a fake clock control it).</summary>
internal static class SignalWait
{
    /// <summary>True when <paramref name="signal"/> was taken, false when <paramref name="timeout"/> passed on <paramref name="time"/>; throws when <paramref name="stopping"/> fires.</summary>
    public static async Task<bool> WaitAsync(SemaphoreSlim signal, TimeSpan timeout, TimeProvider time, CancellationToken stopping)
    {
        // On the system clock the semaphore's own timeout: a timeout is a false, not an exception, and no timed
        // cancellation source per wait. A simulator's 100,000 agents wake their outboxes 20,000 times a second; thrown
        // and caught, those timeouts and their timers' shared lock held 33 of 67 threads (dotnet-stack, docs/BENCHMARKS.md).
        if (time == TimeProvider.System) return await signal.WaitAsync(timeout, stopping).ConfigureAwait(false);

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
