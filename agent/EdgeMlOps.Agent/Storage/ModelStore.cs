using System.Globalization;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Agent.Storage;

/// <summary>A model version read back from disk, verified.</summary>
public sealed record StoredModel(ModelAnnouncement Announcement, byte[] Inference, byte[] TrainStep);

/// <summary>What <see cref="ModelStore.LoadCurrent"/> found: the model, and why it is not the current one if it fell back.</summary>
public sealed record StoredModelLoad(StoredModel? Model, string? FallbackReason);

/// <summary>
/// Installed model versions on disk. Artifacts are content-addressed blobs (verified by sha256
/// on every read); each version has its announcement; two pointer files name the current and the
/// previous version. Every write is a temp file + fsync + rename, so a crash at any point leaves
/// either the old or the new state, never a mix. Only the current and previous versions are kept.
/// A simulator may pass one shared blob directory to all its devices (blobs are immutable).
/// </summary>
public sealed class ModelStore
{
    private readonly string _root;
    private readonly string _blobs;
    private readonly bool _ownsBlobs;
    private readonly object _gate = new();

    public ModelStore(string root, string? sharedBlobDirectory = null)
    {
        _root = root;
        _ownsBlobs = sharedBlobDirectory is null;
        _blobs = sharedBlobDirectory ?? Path.Combine(root, "blobs");
        Directory.CreateDirectory(Path.Combine(root, "versions"));
        Directory.CreateDirectory(_blobs);
    }

    public bool HasBlob(string sha256) => File.Exists(BlobPath(sha256));

    /// <summary>Stores verified bytes under their hash (no-op if present).</summary>
    public void PutBlob(string sha256, byte[] bytes)
    {
        if (ContentHash.Sha256Hex(bytes) != sha256) throw new InvalidDataException($"blob does not hash to {sha256}");
        if (!HasBlob(sha256)) WriteAtomically(BlobPath(sha256), bytes);
    }

    /// <summary>Reads a blob and checks its hash; null if missing or corrupt.</summary>
    public byte[]? ReadBlob(string sha256)
    {
        try
        {
            var bytes = File.ReadAllBytes(BlobPath(sha256));
            return ContentHash.Sha256Hex(bytes) == sha256 ? bytes : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    public ulong? CurrentVersion => ReadPointer("current");

    public ulong? PreviousVersion => ReadPointer("previous");

    /// <summary>Makes <paramref name="announcement"/> current (its blobs must be stored); the old current becomes previous.</summary>
    public void Commit(ModelAnnouncement announcement)
    {
        lock (_gate)
        {
            WriteAtomically(VersionPath(announcement.Version), announcement.ToByteArray());
            var current = ReadPointer("current");
            if (current == announcement.Version) return;
            if (current is { } old) WritePointer("previous", old);
            WritePointer("current", announcement.Version);
            Prune();
        }
    }

    /// <summary>Makes the previous version current again (for a revert). False if there is none.</summary>
    public bool RollBack()
    {
        lock (_gate)
        {
            if (ReadPointer("previous") is not { } previous || ReadPointer("current") is not { } current) return false;
            WritePointer("current", previous);
            WritePointer("previous", current);
            return true;
        }
    }

    /// <summary>
    /// The current version if it is intact; otherwise the previous one, with the reason. A model
    /// whose announcement or artifacts are missing or fail their hash is never returned.
    /// </summary>
    public StoredModelLoad LoadCurrent()
    {
        lock (_gate)
        {
            var current = ReadPointer("current");
            if (current is null) return new StoredModelLoad(null, null);
            if (TryLoad(current.Value, out var model, out var problem)) return new StoredModelLoad(model, null);
            var reason = $"installed v{current} is unusable ({problem})";
            if (ReadPointer("previous") is { } previous && TryLoad(previous, out var fallback, out var problem2))
            {
                WritePointer("current", previous);
                return new StoredModelLoad(fallback, reason + $"; fell back to v{previous}");
            }

            return new StoredModelLoad(null, reason + "; no usable previous version");
        }
    }

    private bool TryLoad(ulong version, out StoredModel? model, out string problem)
    {
        model = null;
        ModelAnnouncement announcement;
        try
        {
            announcement = ModelAnnouncement.Parser.ParseFrom(File.ReadAllBytes(VersionPath(version)));
        }
        catch (Exception ex) when (ex is IOException or InvalidProtocolBufferException)
        {
            problem = "announcement missing or unreadable";
            return false;
        }

        var inference = announcement.Inference is { } i ? ReadBlob(i.Sha256) : null;
        var train = announcement.TrainStep is { } t ? ReadBlob(t.Sha256) : null;
        if (inference is null || train is null)
        {
            problem = "artifact missing or fails its sha256";
            return false;
        }

        problem = string.Empty;
        model = new StoredModel(announcement, inference, train);
        return true;
    }

    private void Prune()
    {
        var keep = new HashSet<ulong?> { ReadPointer("current"), ReadPointer("previous") };
        var referenced = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.GetFiles(Path.Combine(_root, "versions"), "*.pb"))
        {
            var version = ulong.Parse(Path.GetFileNameWithoutExtension(file), CultureInfo.InvariantCulture);
            if (!keep.Contains(version))
            {
                File.Delete(file);
                continue;
            }

            var a = ModelAnnouncement.Parser.ParseFrom(File.ReadAllBytes(file));
            referenced.Add(a.Inference?.Sha256 ?? string.Empty);
            referenced.Add(a.TrainStep?.Sha256 ?? string.Empty);
        }

        // Shared blob directories belong to every device using them; only a private one is collected.
        if (!_ownsBlobs) return;
        foreach (var blob in Directory.GetFiles(_blobs))
        {
            if (!referenced.Contains(Path.GetFileName(blob))) File.Delete(blob);
        }
    }

    private ulong? ReadPointer(string name)
    {
        var path = Path.Combine(_root, name);
        return File.Exists(path) && ulong.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;
    }

    private void WritePointer(string name, ulong version) =>
        WriteAtomically(Path.Combine(_root, name), System.Text.Encoding.ASCII.GetBytes(version.ToString(CultureInfo.InvariantCulture)));

    private string BlobPath(string sha256) =>
        ContentHash.IsSha256Hex(sha256) ? Path.Combine(_blobs, sha256) : throw new ArgumentException($"'{sha256}' is not a sha256", nameof(sha256));

    private string VersionPath(ulong version) => Path.Combine(_root, "versions", version.ToString(CultureInfo.InvariantCulture) + ".pb");

    private static void WriteAtomically(string path, byte[] bytes)
    {
        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
        {
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }
}
