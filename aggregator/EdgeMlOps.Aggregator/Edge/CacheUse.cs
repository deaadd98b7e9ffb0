using EdgeMlOps.Shared.Hashing;

namespace EdgeMlOps.Aggregator.Edge;

/// <summary>
/// The order in which a gateway's cached artifacts were last used — named by a relayed statement, fetched, or served to
/// a device — which <see cref="ArtifactCache"/> evicts by, least recently used first.
/// </summary>
internal sealed class CacheUse
{
    private readonly Dictionary<string, long> _last = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private long _clock;

    /// <summary>The artifacts already in <paramref name="directory"/> (a restarted gateway's), in the order they were last used (their files' write times, which each use sets).</summary>
    public static CacheUse Of(string directory)
    {
        var use = new CacheUse();
        if (!Directory.Exists(directory)) return use;
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles().Where(f => ContentHash.IsSha256Hex(f.Name)).OrderBy(f => f.LastWriteTimeUtc))
        {
            use.Touch(file.Name);
        }

        return use;
    }

    /// <summary>Marks <paramref name="sha256"/>, whose file is in the cache, as just used.</summary>
    public void Touch(string sha256)
    {
        lock (_gate) _last[sha256] = ++_clock;
    }

    public void Forget(string sha256)
    {
        lock (_gate) _last.Remove(sha256);
    }

    /// <summary>The artifacts past the <paramref name="keep"/> most recently used, least recently used first.</summary>
    public IReadOnlyList<string> Beyond(int keep)
    {
        lock (_gate) return _last.Count <= keep ? [] : [.. _last.OrderBy(e => e.Value).Take(_last.Count - keep).Select(e => e.Key)];
    }
}
