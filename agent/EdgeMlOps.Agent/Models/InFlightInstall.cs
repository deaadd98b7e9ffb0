namespace EdgeMlOps.Agent.Models;

/// <summary>
/// The install in flight (one at a time, under the agent's install gate): its version and a way to stop
/// its download, so that a signed rollback directive never waits behind a slow or stalled artifact server.
/// </summary>
public sealed class InFlightInstall
{
    private readonly object _gate = new();
    private CancellationTokenSource? _cancel;
    private ulong _version;

    /// <summary>The token downloads run under: the install's own while one is in flight, else <paramref name="stopping"/>.</summary>
    public CancellationToken Token(CancellationToken stopping)
    {
        lock (_gate) return _cancel?.Token ?? stopping;
    }

    /// <summary>Tracks an install of <paramref name="version"/> until the returned scope is disposed.</summary>
    public IDisposable Begin(ulong version, CancellationToken stopping)
    {
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        lock (_gate)
        {
            _cancel = cancel;
            _version = version;
        }

        return new Scope(this, cancel);
    }

    /// <summary>Stops the install in flight, if any; the version stopped, or 0.</summary>
    public ulong Preempt()
    {
        lock (_gate)
        {
            if (_cancel is null || _cancel.IsCancellationRequested) return 0;
            _cancel.Cancel();
            return _version;
        }
    }

    private void End(CancellationTokenSource cancel)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_cancel, cancel)) return;
            _cancel = null;
            _version = 0;
        }

        cancel.Dispose();
    }

    private sealed class Scope(InFlightInstall owner, CancellationTokenSource cancel) : IDisposable
    {
        public void Dispose() => owner.End(cancel);
    }
}
