using EdgeMlOps.Shared.Hashing;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>
/// Immutable artifacts on disk, addressed by sha256. Writes are atomic (temp file + rename); a file is deleted only when
/// the registry's retention pruned every version naming it (<see cref="ArtifactRetention"/>).
/// </summary>
public sealed class ArtifactStore
{
    private readonly string _root;

    public ArtifactStore(string root)
    {
        // Paths handed out must be absolute: ASP.NET Core's file result reads a relative path as a
        // web-root path, which made every download a 500 under the default relative data directory.
        _root = Path.GetFullPath(root);
        Directory.CreateDirectory(root);
        RemoveAbandonedWrites();
    }

    /// <summary>A temporary file older than this was abandoned by a crash mid-write; a younger one may be another replica's write under way.</summary>
    public static readonly TimeSpan AbandonedAfter = TimeSpan.FromHours(1);

    /// <summary>Stores <paramref name="bytes"/> and returns their sha256; storing the same bytes twice is a no-op.</summary>
    public string Put(byte[] bytes)
    {
        var sha = ContentHash.Sha256Hex(bytes);
        var path = PathOf(sha);
        if (File.Exists(path)) return sha;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        Runtime.Storage.AtomicFile.Write(path, bytes, durable: true);
        return sha;
    }

    /// <summary>Deletes the temporary files of writes a crash (or a kill) cut short, older than <see cref="AbandonedAfter"/>.</summary>
    private void RemoveAbandonedWrites()
    {
        foreach (var shard in Directory.EnumerateDirectories(_root)) Runtime.Storage.AtomicFile.RemoveAbandoned(shard, AbandonedAfter);
    }

    /// <summary>The file holding <paramref name="sha256"/>, or null if absent or not a valid address.</summary>
    public string? TryGetPath(string sha256) => Find(_root, sha256);

    /// <summary>The file holding <paramref name="sha256"/> in the store at <paramref name="root"/> (which may not exist), or null.</summary>
    public static string? Find(string root, string sha256)
    {
        if (!ContentHash.IsSha256Hex(sha256)) return null;
        var path = Path.Combine(Path.GetFullPath(root), sha256[..2], sha256);
        return File.Exists(path) ? path : null;
    }

    /// <summary>Where the artifacts of the aggregator whose data directory is <paramref name="dataDirectory"/> are kept.</summary>
    public static string RootIn(string dataDirectory) => Path.Combine(dataDirectory, "artifacts");

    /// <summary>Deletes the file holding <paramref name="sha256"/> (retention: no kept version names it); the bytes freed, 0 when it was not there.</summary>
    public long Delete(string sha256)
    {
        if (TryGetPath(sha256) is not { } path) return 0;
        var size = new FileInfo(path).Length;
        File.Delete(path);
        return size;
    }

    public byte[] Read(string sha256) =>
        File.ReadAllBytes(TryGetPath(sha256) ?? throw new FileNotFoundException($"No artifact {sha256}."));

    private string PathOf(string sha) => Path.Combine(_root, sha[..2], sha);
}
