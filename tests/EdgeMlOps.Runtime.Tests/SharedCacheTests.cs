namespace EdgeMlOps.Runtime.Tests;

public class SharedCacheTests
{
    private sealed class Thing : IDisposable
    {
        public bool Disposed { get; private set; }
        public void Dispose() => Disposed = true;
    }

    [Fact]
    public void Acquire_SameKey_SharesOneValue_DisposedAfterLastRelease()
    {
        var cache = new SharedCache<Thing>();
        var created = 0;
        var a = cache.Acquire("k", () => { created++; return new Thing(); });
        var b = cache.Acquire("k", () => { created++; return new Thing(); });
        Assert.Same(a.Value, b.Value);
        Assert.Equal(1, created);
        a.Dispose();
        a.Dispose(); // double release must not over-release
        Assert.False(b.Value.Disposed);
        b.Dispose();
        Assert.True(b.Value.Disposed);
        Assert.Equal(0, cache.Count);
    }
}
