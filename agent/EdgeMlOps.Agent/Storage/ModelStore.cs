using System.Globalization;
using EdgeMlOps.Runtime.Storage;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;

namespace EdgeMlOps.Agent.Storage;

/// <summary>
/// An installed version read back from disk, verified; <paramref name="TrainStep"/> is null for a model the fleet only
/// serves, <paramref name="Preprocess"/> when its signed interface declares no preprocessing graph.
/// </summary>
public sealed record StoredModel(ModelAnnouncement Announcement, byte[] Inference, byte[]? TrainStep, byte[]? Preprocess = null);

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
    private readonly bool _durable;

    /// <param name="root">This device's model directory.</param>
    /// <param name="sharedBlobDirectory">Blob directory shared by several simulated devices, or null for a private one.</param>
    /// <param name="durable">fsync every write (a device); a simulator on one disk may turn it off.</param>
    public ModelStore(string root, string? sharedBlobDirectory = null, bool durable = true)
    {
        _root = root;
        _durable = durable;
        _ownsBlobs = sharedBlobDirectory is null;
        _blobs = sharedBlobDirectory ?? Path.Combine(root, "blobs");
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "versions"));
            Directory.CreateDirectory(_blobs);
            RemoveAbandonedWrites();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A read-only data directory that never held a model (the host runs degraded and says so): nothing installed to
            // read, and a write fails as it would in any read-only directory.
        }
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

    /// <summary>Where the agent keeps the newest verified trust bundle.</summary>
    public string TrustBundlePath => Path.Combine(_root, "trust.pb");

    /// <summary>Where the device's boot epoch is kept (see <see cref="BootEpoch"/>).</summary>
    public string BootEpochPath => Path.Combine(_root, "boot");

    /// <summary>Where the device keeps its key and certificate (see <see cref="Security.DeviceIdentity"/>).</summary>
    public string IdentityDirectory => Path.Combine(_root, "identity");

    /// <summary>
    /// The version inside its health window, if any. Set before switching and cleared on commit, so
    /// a process that dies during the window (a crash on load or in serving) finds it on restart.
    /// </summary>
    public ulong? TrialVersion =>
        File.Exists(TrialPath) && ulong.TryParse(File.ReadAllText(TrialPath).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;

    public void BeginTrial(ulong version) => WriteAtomically(TrialPath, System.Text.Encoding.ASCII.GetBytes(version.ToString(CultureInfo.InvariantCulture)));

    public void EndTrial() => File.Delete(TrialPath);

    private string TrialPath => Path.Combine(_root, "trial");

    public ulong? CurrentVersion => ReadState().Current;

    public ulong? PreviousVersion => ReadState().Previous;

    /// <summary>Makes <paramref name="announcement"/> current (its blobs must be stored); the old current becomes previous.</summary>
    public void Commit(ModelAnnouncement announcement)
    {
        lock (_gate)
        {
            var (current, previous) = ReadState();
            if (current == announcement.Version) return;
            WriteAtomically(VersionPath(announcement.Version), announcement.ToByteArray());
            WriteState(announcement.Version, current);
            Prune(announcement.Version, current, previous);
        }
    }

    /// <summary>Makes the previous version current again (for a revert). False if there is none.</summary>
    public bool RollBack()
    {
        lock (_gate)
        {
            if (ReadState() is not ({ } current, { } previous)) return false;
            WriteState(previous, current);
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
            var (current, previousVersion) = ReadState();
            if (current is null) return new StoredModelLoad(null, null);
            if (TryLoad(current.Value, out var model, out var problem)) return new StoredModelLoad(model, null);
            var reason = $"installed v{current} is unusable ({problem})";
            if (previousVersion is { } previous && TryLoad(previous, out var fallback, out _))
            {
                WriteState(previous, null);
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
        var preprocessSha = PreprocessSha256(announcement);
        var preprocess = preprocessSha is null ? null : ReadBlob(preprocessSha);
        if (inference is null || (train is null && !ManifestRules.ServeOnly(announcement.Architecture)) || (preprocess is null && preprocessSha is not null))
        {
            problem = "artifact missing or fails its sha256";
            return false;
        }

        problem = string.Empty;
        model = new StoredModel(announcement, inference, train, preprocess);
        return true;
    }

    /// <summary>Drops the version that just fell out of (current, previous), and in a private blob directory its unreferenced blobs.</summary>
    private void Prune(ulong current, ulong? previous, ulong? dropped)
    {
        if (dropped is not { } old || old == current || old == previous) return;
        File.Delete(VersionPath(old));

        // Shared blob directories belong to every device using them; only a private one is collected.
        if (!_ownsBlobs) return;
        var referenced = new HashSet<string>(StringComparer.Ordinal);
        foreach (var version in new[] { current, previous ?? current })
        {
            var a = ModelAnnouncement.Parser.ParseFrom(File.ReadAllBytes(VersionPath(version)));
            referenced.Add(a.Inference?.Sha256 ?? string.Empty);
            referenced.Add(a.TrainStep?.Sha256 ?? string.Empty);
            referenced.Add(PreprocessSha256(a) ?? string.Empty);
        }

        foreach (var blob in Directory.GetFiles(_blobs))
        {
            if (!referenced.Contains(Path.GetFileName(blob))) File.Delete(blob);
        }
    }

    /// <summary>The sha256 of the preprocessing graph the version's signed interface declares, or null.</summary>
    public static string? PreprocessSha256(ModelAnnouncement announcement) =>
        announcement.Architecture?.Graph?.Tensors?.Preprocess?.Sha256 ?? announcement.Architecture?.Graph?.Preprocess?.Sha256;

    /// <summary>The pointer file: "current previous" in one line, replaced atomically as a whole.</summary>
    private (ulong? Current, ulong? Previous) ReadState()
    {
        string[] parts;
        try
        {
            parts = File.ReadAllText(Path.Combine(_root, "state")).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return (null, null);
        }

        static ulong? Parse(string[] p, int i) =>
            p.Length > i && ulong.TryParse(p[i], NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;
        return (Parse(parts, 0), Parse(parts, 1));
    }

    private void WriteState(ulong current, ulong? previous) =>
        WriteAtomically(Path.Combine(_root, "state"), System.Text.Encoding.ASCII.GetBytes(
            previous is { } p ? FormattableString.Invariant($"{current} {p}") : current.ToString(CultureInfo.InvariantCulture)));

    private string BlobPath(string sha256) =>
        ContentHash.IsSha256Hex(sha256) ? Path.Combine(_blobs, sha256) : throw new ArgumentException($"'{sha256}' is not a sha256", nameof(sha256));

    private string VersionPath(ulong version) => Path.Combine(_root, "versions", version.ToString(CultureInfo.InvariantCulture) + ".pb");

    private void WriteAtomically(string path, byte[] bytes) => AtomicFile.Write(path, bytes, _durable);

    /// <summary>A temporary file older than this was abandoned by a crash or power loss mid-write, not a write under way.</summary>
    private static readonly TimeSpan AbandonedAfter = TimeSpan.FromMinutes(10);

    /// <summary>Deletes what writes cut short by a crash left (a shared blob directory is its owner's to clean).</summary>
    private void RemoveAbandonedWrites()
    {
        foreach (var directory in _ownsBlobs ? new[] { _root, Path.Combine(_root, "versions"), IdentityDirectory, _blobs } : [_root, Path.Combine(_root, "versions"), IdentityDirectory])
            AtomicFile.RemoveAbandoned(directory, AbandonedAfter);
    }
}
