using System.Net;
using System.Security.Cryptography;
using EdgeMlOps.Aggregator.Edge;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Aggregator.Tests.Edge;

/// <summary>
/// A gateway's artifact cache took every new version's files on top of the last for ever — a site's small disk filled as
/// the fleet trained. Now it keeps <c>Edge:CachedArtifacts</c> files, evicting the least recently named, fetched or
/// served; what is asked for again is fetched again.
/// </summary>
public sealed class ArtifactCacheTests
{
    private readonly Dictionary<string, byte[]> _upstream = Enumerable.Range(0, 12)
        .Select(i => Enumerable.Repeat((byte)i, 1000 + i).ToArray()).ToDictionary(b => Convert.ToHexStringLower(SHA256.HashData(b)));

    [Fact]
    public async Task PastTheFilesItKeeps_TheLeastRecentlyUsedIsEvicted_AndFetchedAgainWhenAskedFor()
    {
        var dir = AggregatorFixture.TempDirectory();
        var shas = _upstream.Keys.ToArray();
        var cache = Cache(dir, keep: ArtifactCache.MinFiles);
        foreach (var sha in shas[..8]) Assert.NotNull(await cache.GetAsync(sha, CancellationToken.None));
        Assert.NotNull(await cache.GetAsync(shas[0], CancellationToken.None)); // served again: the most recently used now
        await cache.GetAsync(shas[8], CancellationToken.None);
        await cache.GetAsync(shas[9], CancellationToken.None);

        Assert.Equal(8, Directory.GetFiles(dir).Length);
        Assert.Equal((10L, 2L), (cache.Fetched, cache.Evicted));
        Assert.True(File.Exists(Path.Combine(dir, shas[0])), "the artifact served again stays");
        Assert.False(File.Exists(Path.Combine(dir, shas[1])), "the least recently used went first");
        Assert.False(File.Exists(Path.Combine(dir, shas[2])));

        // Asked for again, an evicted artifact is fetched again, whole.
        var again = await cache.GetAsync(shas[1], CancellationToken.None);
        Assert.Equal(_upstream[shas[1]], await File.ReadAllBytesAsync(again!));
        Assert.Equal((11L, 3L), (cache.Fetched, cache.Evicted));
        Assert.Equal(8, Directory.GetFiles(dir).Length);

        // A restarted gateway finds its files and evicts in the same order (each use set its file's write time).
        var restarted = Cache(dir, keep: ArtifactCache.MinFiles);
        await restarted.GetAsync(shas[10], CancellationToken.None);
        Assert.Equal(8, Directory.GetFiles(dir).Length);
        Assert.False(File.Exists(Path.Combine(dir, shas[4])), "the least recently used left after the first run's evictions");
        Assert.True(File.Exists(Path.Combine(dir, shas[0])), "used after shas[4..7] were fetched");
        Assert.True(File.Exists(Path.Combine(dir, shas[10])));
    }

    [Fact]
    public async Task CachedArtifactsZero_KeepsEveryOne_AndTooFewIsRefused()
    {
        var dir = AggregatorFixture.TempDirectory();
        var cache = Cache(dir, keep: 0);
        foreach (var sha in _upstream.Keys) await cache.GetAsync(sha, CancellationToken.None);
        Assert.Equal((12, 0L), (Directory.GetFiles(dir).Length, cache.Evicted));

        Assert.Contains(new EdgeOptions { CachedArtifacts = 3 }.Problems(), p => p.Key == "Edge:CachedArtifacts");
        Assert.Contains(new EdgeOptions { CachedArtifacts = -1 }.Problems(), p => p.Key == "Edge:CachedArtifacts");
        Assert.DoesNotContain(new EdgeOptions { CachedArtifacts = 0 }.Problems(), p => p.Key == "Edge:CachedArtifacts");
    }

    private ArtifactCache Cache(string dir, int keep) =>
        new(dir, new HttpClient(new Upstream(_upstream)), new Uri("https://aggregator.test/"), NullLogger.Instance, keep);

    /// <summary>The aggregator's <c>/v1/artifacts/{sha256}</c>, in memory.</summary>
    private sealed class Upstream(Dictionary<string, byte[]> files) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(files.TryGetValue(request.RequestUri!.Segments[^1], out var bytes)
                ? new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(bytes) }
                : new HttpResponseMessage(HttpStatusCode.NotFound));
    }
}
