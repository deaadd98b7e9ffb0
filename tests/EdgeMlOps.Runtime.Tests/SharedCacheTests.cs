namespace EdgeMlOps.Runtime.Tests;

public class SharedCacheTests
{
    private sealed class Thing : IDisposable
    {
        public bool Disposed { get; private set; }
        public void Dispose() => Disposed = true;
    }

    [Fact]
    public async Task Acquire_SameKey_SharesOneValue_DisposedAfterLastRelease()
    {
        var cache = new SharedCache<Thing>();
        var created = 0;
        Task<Thing> Create()
        {
            created++;
            return Task.FromResult(new Thing());
        }

        var a = await cache.AcquireAsync("k", Create);
        var b = await cache.AcquireAsync("k", Create);
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
