using System.Collections.Concurrent;
using System.Security.Cryptography;
using EdgeMlOps.Shared.Hashing;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Edge;

/// <summary>
/// A gateway's copy of the fleet's artifacts, content-addressed: an artifact is fetched once from the aggregator's API
/// (<c>/v1/artifacts/{sha256}</c>), kept only if its bytes hash to its name, and served to the site's devices from disk —
/// also while the aggregator is out of reach. One download per artifact however many devices ask at once.
/// </summary>
public sealed class ArtifactCache(string directory, HttpClient upstream, Uri upstreamApi, ILogger logger)
{
    private readonly string _directory = Path.GetFullPath(directory); // absolute: Results.File reads a relative path as the web root's

    /// <summary>The largest artifact fetched (a model file, an ONNX graph): beyond it the download is abandoned.</summary>
    public const long MaxBytes = 2L * 1024 * 1024 * 1024;

    private readonly ConcurrentDictionary<string, Lazy<Task<string?>>> _fetching = new(StringComparer.Ordinal);
    private long _fetched;
    private long _refused;

    /// <summary>Artifacts downloaded from the aggregator, and downloads refused (wrong hash, too large, unreachable).</summary>
    public long Fetched => Interlocked.Read(ref _fetched);

    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>The file of <paramref name="sha256"/>, fetched first if it is not here; null when it cannot be had.</summary>
    public async Task<string?> GetAsync(string sha256, CancellationToken cancellationToken)
    {
        if (!ContentHash.IsSha256Hex(sha256)) return null;
        var path = Path.Combine(_directory, sha256);
        if (File.Exists(path)) return path;
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

    private string? Refuse(string sha256, string why)
    {
        Interlocked.Increment(ref _refused);
        logger.LogArtifactRefused(sha256, why);
        return null;
    }
}
