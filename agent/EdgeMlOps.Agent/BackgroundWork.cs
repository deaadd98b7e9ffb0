namespace EdgeMlOps.Agent;

/// <summary>
/// The agent's background work and its stop signal: long-running loops started once, and short jobs (an install,
/// a training task) handed off the receive loop. A stop cancels the token and waits for all of it.
/// </summary>
internal sealed class BackgroundWork : IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _tasks = new();

    public CancellationToken Stopping => _stopping.Token;

    public bool IsStopping => _stopping.IsCancellationRequested;

    /// <summary>Starts a loop on the thread pool with the stop token.</summary>
    public void Run(Func<CancellationToken, Task> loop) => Track(Task.Run(() => loop(_stopping.Token), CancellationToken.None));

    /// <summary>Keeps a job so a stop waits for it (finished ones are forgotten).</summary>
    public void Track(Task task)
    {
        lock (_tasks)
        {
            _tasks.RemoveAll(t => t.IsCompleted);
            _tasks.Add(task);
        }
    }

    /// <summary>Signals the stop; true the first time.</summary>
    public bool Cancel()
    {
        if (_stopping.IsCancellationRequested) return false;
        _stopping.Cancel();
        return true;
    }

    /// <summary>Waits for every loop and job (call after <see cref="Cancel"/>).</summary>
    public Task WhenAllAsync()
    {
        Task[] pending;
        lock (_tasks) pending = _tasks.ToArray();
        return Task.WhenAll(pending);
    }

    public void Dispose() => _stopping.Dispose();
}
