using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Models;

/// <summary>
/// The versions loaded on the device: the one served and (governed fleets) the one rounds train on while it is not
/// served. Switches are atomic under one lock; whoever waits for a version is woken on every switch; a version
/// replaced while in use is released by its last user.
/// </summary>
internal sealed class ModelSlots : IDisposable
{
    private readonly object _gate = new();
    private InstalledModel? _served;
    private InstalledModel? _training;
    private string _notice = string.Empty;
    private TaskCompletionSource _changed = NewSignal();
    private int _switching; // swaps whose replaced version is not released yet: waiters wait for them

    /// <summary>Raised after the served version changed, with the new version (per-version health starts again).</summary>
    public event Action<ulong>? ServedChanged;

    /// <summary>The served version (0 before the first install).</summary>
    public ulong ServedVersion
    {
        get { lock (_gate) return _served?.Announcement.Version ?? 0; }
    }

    /// <summary>The version loaded for training only (governed fleets), or 0.</summary>
    public ulong TrainingVersion
    {
        get { lock (_gate) return _training?.Announcement.Version ?? 0; }
    }

    /// <summary>The served version's announcement (name, version, architecture, artifacts), or null.</summary>
    public ModelAnnouncement? Served
    {
        get { lock (_gate) return _served?.Announcement; }
    }

    /// <summary>Why the device is not on the version it should be (empty when all is well).</summary>
    public string Notice
    {
        get { lock (_gate) return _notice; }
        set { lock (_gate) _notice = value; }
    }

    /// <summary>The execution provider running the served version, or <paramref name="configured"/> before one is loaded.</summary>
    public string ExecutionProvider(string configured)
    {
        lock (_gate) return _served?.Inference.Value.ExecutionProvider ?? configured;
    }

    /// <summary>The notice and the served session's provider fallback, joined (what status reports).</summary>
    public string FullNotice()
    {
        lock (_gate)
        {
            var fallback = _served?.Inference.Value.ProviderFallback ?? string.Empty;
            return string.Join("; ", new[] { _notice, fallback }.Where(n => n.Length > 0));
        }
    }

    /// <summary>The served version with a user registered on it (call <see cref="InstalledModel.Exit"/>), or null.</summary>
    public InstalledModel? EnterServed()
    {
        // Under the lock the served version always holds the slot's reference, so entering cannot fail.
        lock (_gate) return _served is { } m && m.TryEnter() ? m : null;
    }

    /// <summary>The served or the training-only version matching <paramref name="version"/> (entered), else the served one.</summary>
    public InstalledModel? EnterFor(ulong version)
    {
        lock (_gate)
        {
            var model = _training is { } t && t.Announcement.Version == version ? t : _served;
            return model is not null && model.TryEnter() ? model : null;
        }
    }

    /// <summary>Serves a loaded version; returns the announcement of the one replaced.</summary>
    public ModelAnnouncement? Serve(ModelAnnouncement announcement, SharedCache<InferenceModel>.Lease inference, SharedCache<TrainStepModel>.Lease? trainStep)
    {
        var previous = Swap(ref _served, new InstalledModel(announcement, inference, trainStep), out var changed);
        ServedChanged?.Invoke(announcement.Version);
        previous?.Exit();
        Switched(changed); // waiters see the new version once the replaced one is released (its last user aside)
        return previous?.Announcement;
    }

    /// <summary>Loads a version rounds train on without serving it.</summary>
    public void Train(ModelAnnouncement announcement, SharedCache<InferenceModel>.Lease inference, SharedCache<TrainStepModel>.Lease? trainStep)
    {
        Swap(ref _training, new InstalledModel(announcement, inference, trainStep), out var changed)?.Exit();
        Switched(changed);
    }

    /// <summary>Waits until a served version of at least <paramref name="version"/> is installed.</summary>
    public Task WaitForServedAsync(ulong version, CancellationToken cancellationToken) =>
        WaitAsync(() => _switching == 0 && _served is not null && _served.Announcement.Version >= version, cancellationToken);

    /// <summary>Waits until the served or the training-only version reaches <paramref name="version"/>.</summary>
    public Task WaitForAnyAsync(ulong version, CancellationToken cancellationToken) =>
        WaitAsync(() => _switching == 0 && Math.Max(_served?.Announcement.Version ?? 0, _training?.Announcement.Version ?? 0) >= version, cancellationToken);

    public void Dispose()
    {
        lock (_gate)
        {
            _served?.Exit();
            _served = null;
            _training?.Exit();
            _training = null;
        }
    }

    private async Task WaitAsync(Func<bool> reached, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (reached()) return;
                changed = _changed.Task;
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Puts <paramref name="next"/> in a slot; returns the one replaced (still entered: the caller exits it) and the signal
    /// the caller sets after that, so whoever waits for the new version finds the old one released.
    /// </summary>
    private InstalledModel? Swap(ref InstalledModel? slot, InstalledModel next, out TaskCompletionSource changed)
    {
        InstalledModel? previous;
        lock (_gate)
        {
            previous = slot;
            slot = next;
            _switching++;
            changed = _changed;
            _changed = NewSignal();
        }

        return previous;
    }

    /// <summary>A switch is complete: wakes who waited before it (<paramref name="changed"/>) and who began waiting during it.</summary>
    private void Switched(TaskCompletionSource changed)
    {
        TaskCompletionSource during;
        lock (_gate)
        {
            _switching--;
            during = _changed;
            _changed = NewSignal();
        }

        changed.TrySetResult();
        during.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
