using System.Collections.Concurrent;
using System.Security.Cryptography;
using EdgeMlOps.Shared.Hashing;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Edge;

/// <summary>
/// A gateway's copy of the fleet's artifacts, content-addressed: an artifact is fetched once from the aggregator's API
/// (<c>/v1/artifacts/{sha256}</c>), kept only if its bytes hash to its name, and served to the site's devices from disk —
/// also while the aggregator is out of reach. One download per artifact however many devices ask at once. At most
/// <paramref name="keep"/> are kept (<c>Edge:CachedArtifacts</c>; 0: all): each new version's files came on top of the
/// last for ever. Past it, after a fetch, the least recently named (by a relayed statement), fetched or served go first;
/// the statements in force name theirs as they arrive, so those are the most recent.
/// </summary>
public sealed class ArtifactCache(string directory, HttpClient upstream, Uri upstreamApi, ILogger logger, int keep = EdgeOptions.DefaultCachedArtifacts)
{
    /// <summary>The fewest artifacts a bounded cache keeps: an announcement, a rollout plan and a model line name two each.</summary>
    public const int MinFiles = 8;

    private readonly string _directory = Path.GetFullPath(directory); // absolute: Results.File reads a relative path as the web root's

    /// <summary>The largest artifact fetched (a model file, an ONNX graph): beyond it the download is abandoned.</summary>
    public const long MaxBytes = 2L * 1024 * 1024 * 1024;

    private readonly ConcurrentDictionary<string, Lazy<Task<string?>>> _fetching = new(StringComparer.Ordinal);
    private readonly CacheUse _use = CacheUse.Of(Path.GetFullPath(directory));
    private long _fetched;
    private long _refused;
    private long _evicted;

    /// <summary>Artifacts downloaded from the aggregator, and downloads refused (wrong hash, too large, unreachable).</summary>
    public long Fetched => Interlocked.Read(ref _fetched);

    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Artifacts deleted as the least recently used past <c>Edge:CachedArtifacts</c>.</summary>
    public long Evicted => Interlocked.Read(ref _evicted);

    /// <summary>The file of <paramref name="sha256"/>, fetched first if it is not here; null when it cannot be had.</summary>
    public async Task<string?> GetAsync(string sha256, CancellationToken cancellationToken)
    {
        if (!ContentHash.IsSha256Hex(sha256)) return null;
        var path = Path.Combine(_directory, sha256);
        if (File.Exists(path))
        {
            Touch(sha256, path);
            return path;
        }

        var fetch = _fetching.GetOrAdd(sha256, id => new Lazy<Task<string?>>(() => FetchAsync(id, path)));
        try
        {
            return await fetch.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (fetch.Value.IsCompleted) _fetching.TryRemove(new KeyValuePair<string, Lazy<Task<string?>>>(sha256, fetch));
        }
    }

    /// <summary>Fetches every named artifact not here yet (a relayed announcement's), one at a time, in the background of the caller.</summary>
    public async Task PrefetchAsync(IReadOnlyList<string> sha256s, CancellationToken cancellationToken)
    {
        foreach (var sha256 in sha256s) await GetAsync(sha256, cancellationToken).ConfigureAwait(false);
    }

    private async Task<string?> FetchAsync(string sha256, string path)
    {
        Directory.CreateDirectory(_directory);
        var partial = $"{path}.{Guid.NewGuid():N}.part";
        try
        {
            using var response = await upstream.GetAsync(new Uri(upstreamApi, $"v1/artifacts/{sha256}"), HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) return Refuse(sha256, $"the aggregator answered {(int)response.StatusCode}");
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long total = 0;
            await using (var source = await response.Content.ReadAsStreamAsync().ConfigureAwait(false))
            await using (var target = File.Create(partial))
            {
                var buffer = new byte[81920];
                int read;
                while ((read = await source.ReadAsync(buffer).ConfigureAwait(false)) > 0)
                {
                    total += read;
                    if (total > MaxBytes) return Refuse(sha256, $"more than {MaxBytes} bytes");
                    hash.AppendData(buffer, 0, read);
                    await target.WriteAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
                }
            }

            var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (actual != sha256) return Refuse(sha256, $"its bytes hash to {actual}");
            File.Move(partial, path, overwrite: true);
            Interlocked.Increment(ref _fetched);
            logger.LogArtifactCached(sha256, total);
            Touch(sha256, path);
            Evict(sha256);
            return path;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException)
        {
            return Refuse(sha256, ex.Message);
        }
        finally
        {
            if (File.Exists(partial)) File.Delete(partial);
        }
    }

    /// <summary>Marks the artifact used, also on disk (its write time), so a restarted gateway evicts in the same order.</summary>
    private void Touch(string sha256, string path)
    {
        _use.Touch(sha256);
        try
        {
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
        }
        catch (IOException)
        {
            // evicted meanwhile, or the disk refuses: the order in memory still holds
        }
    }

    /// <summary>Deletes the least recently used artifacts past <c>keep</c>, never <paramref name="fetched"/> nor one being fetched.</summary>
    private void Evict(string fetched)
    {
        if (keep == 0) return;
        foreach (var sha256 in _use.Beyond(keep))
        {
            if (sha256 == fetched || _fetching.ContainsKey(sha256)) continue;
            var path = Path.Combine(_directory, sha256);
            try
            {
                var size = File.Exists(path) ? new FileInfo(path).Length : 0;
                File.Delete(path); // a device downloading it keeps its open file
                _use.Forget(sha256);
                Interlocked.Increment(ref _evicted);
                logger.LogArtifactEvicted(sha256, keep, size);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                logger.LogEvictionFailed(sha256, ex.Message); // kept, and tried again after the next fetch
            }
        }
    }

    private string? Refuse(string sha256, string why)
    {
        Interlocked.Increment(ref _refused);
        logger.LogArtifactRefused(sha256, why);
        return null;
    }
}
