using System.Collections.Concurrent;

namespace EdgeMlOps.Runtime;

/// <summary>
/// Reference-counted sharing of immutable, disposable things (loaded ONNX sessions) by content
/// hash. A device agent uses one privately; a simulator hands the same cache to every simulated
/// device so N devices on one model version hold one session, not N.
/// </summary>
public sealed class SharedCache<T> where T : class, IDisposable
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    public int Count => _entries.Count;

    /// <summary>Returns a lease on the value for <paramref name="key"/>, creating it once if absent.</summary>
    public Lease Acquire(string key, Func<T> factory)
    {
        Entry entry;
        lock (_gate)
        {
            entry = _entries.GetOrAdd(key, static _ => new Entry());
            entry.References++;
        }

        try
        {
            // Lazy: concurrent first users wait for one construction.
            return new Lease(this, key, entry.GetOrCreate(factory));
        }
        catch
        {
            Release(key);
            throw;
        }
    }

    private void Release(string key)
    {
        T? toDispose = null;
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var entry) && --entry.References == 0)
            {
                _entries.TryRemove(key, out _);
                toDispose = entry.ValueOrNull;
            }
        }

        toDispose?.Dispose();
    }

    private sealed class Entry
    {
        private readonly object _create = new();
        private T? _value;

        public int References { get; set; }

        public T? ValueOrNull => _value;

        public T GetOrCreate(Func<T> factory)
        {
            if (_value is { } existing) return existing;
            lock (_create)
            {
                return _value ??= factory();
            }
        }
    }

    /// <summary>A counted reference; disposing it releases the reference, not necessarily the value.</summary>
    public sealed class Lease : IDisposable
    {
        private readonly SharedCache<T> _owner;
        private readonly string _key;
        private int _released;

        internal Lease(SharedCache<T> owner, string key, T value)
        {
            _owner = owner;
            _key = key;
            Value = value;
        }

        public T Value { get; }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) _owner.Release(_key);
        }
    }
}
