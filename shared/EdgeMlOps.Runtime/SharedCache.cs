using System.Collections.Concurrent;

namespace EdgeMlOps.Runtime;

/// <summary>
/// Reference-counted sharing of immutable, disposable things (loaded ONNX sessions) by content
/// hash. A device agent uses one privately; a simulator hands the same cache to every simulated
/// device so N devices on one model version hold (and download) one session, not N.
/// </summary>
public sealed class SharedCache<T> where T : class, IDisposable
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    public int Count
    {
        get { lock (_gate) return _entries.Count; }
    }

    /// <summary>
    /// Returns a lease on the value for <paramref name="key"/>. The factory runs at most once per
    /// key while any lease is held; concurrent callers await the same creation.
    /// </summary>
    public async Task<Lease> AcquireAsync(string key, Func<Task<T>> factory)
    {
        Entry entry;
        lock (_gate)
        {
            if (!_entries.TryGetValue(key, out entry!))
            {
                entry = new Entry(new Lazy<Task<T>>(factory, LazyThreadSafetyMode.ExecutionAndPublication));
                _entries.Add(key, entry);
            }

            entry.References++;
        }

        try
        {
            return new Lease(this, key, entry, await entry.Value.Value.ConfigureAwait(false));
        }
        catch
        {
            Release(key, entry, failed: true);
            throw;
        }
    }

    private void Release(string key, Entry entry, bool failed = false)
    {
        var dispose = false;
        lock (_gate)
        {
            // A failed creation is dropped at once so the next caller retries.
            if (--entry.References == 0 || failed)
            {
                if (_entries.TryGetValue(key, out var current) && ReferenceEquals(current, entry)) _entries.Remove(key);
                dispose = entry.References == 0 && !failed;
            }
        }

        if (dispose && entry.Value.IsValueCreated && entry.Value.Value.IsCompletedSuccessfully)
        {
            entry.Value.Value.Result.Dispose();
        }
    }

    internal sealed class Entry(Lazy<Task<T>> value)
    {
        public Lazy<Task<T>> Value { get; } = value;

        public int References { get; set; }
    }

    /// <summary>A counted reference; disposing it releases the reference, not necessarily the value.</summary>
    public sealed class Lease : IDisposable
    {
        private readonly SharedCache<T> _owner;
        private readonly string _key;
        private readonly Entry _entry;
        private int _released;

        internal Lease(SharedCache<T> owner, string key, Entry entry, T value)
        {
            _owner = owner;
            _key = key;
            _entry = entry;
            Value = value;
        }

        public T Value { get; }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) _owner.Release(_key, _entry);
        }
    }
}
