using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;

namespace EdgeMlOps.Agent.Models;

/// <summary>
/// The device's trust decisions: the pinned roots, the newest trust bundle (kept on disk so a
/// replayed older bundle is refused after a restart), and every manifest and plan checked
/// against them. Rejections are counted and the latest reason is reported in status messages.
/// </summary>
public sealed class TrustGate
{
    private readonly TrustVerifier _verifier;
    private readonly string? _bundlePath;
    private readonly object _gate = new();
    private long _rejections;
    private string _lastRejection = string.Empty;

    public TrustGate(string fleet, IReadOnlyList<byte[]> roots, string? bundlePath)
    {
        _verifier = new TrustVerifier(fleet, roots);
        _bundlePath = bundlePath;
    }

    private bool _loaded;

    /// <summary>
    /// Re-verifies the bundle kept on disk, on first use rather than at start: the first signature
    /// check loads the crypto library, and serving the installed model should not wait for it.
    /// </summary>
    private void EnsureLoaded()
    {
        if (_loaded) return;
        _loaded = true;
        if (_bundlePath is null || !File.Exists(_bundlePath)) return;
        try
        {
            _verifier.AcceptBundle(Signed.Parser.ParseFrom(File.ReadAllBytes(_bundlePath)));
        }
        catch (InvalidProtocolBufferException)
        {
            // A damaged copy is replaced by the next bundle the aggregator sends.
        }
    }

    public long Rejections => Interlocked.Read(ref _rejections);

    public string LastRejection
    {
        get { lock (_gate) return _lastRejection; }
    }

    public ulong BundleVersion
    {
        get
        {
            lock (_gate)
            {
                EnsureLoaded();
                return _verifier.Bundle?.Version ?? 0;
            }
        }
    }

    /// <summary>Accepts a newer trust bundle (persisting it); an equal one is a no-op; an older or forged one is refused.</summary>
    public bool OfferBundle(Signed? envelope)
    {
        if (envelope is null) return true;
        lock (_gate)
        {
            EnsureLoaded();
            if (_verifier.BundleEnvelope is { } held && held.Equals(envelope)) return true;
            var verdict = _verifier.AcceptBundle(envelope);
            if (!verdict.Ok) return Refused(verdict.Reason);
            if (_bundlePath is not null)
            {
                Runtime.Storage.AtomicFile.Write(_bundlePath, envelope.ToByteArray(), durable: false);
            }

            return true;
        }
    }

    /// <summary>
    /// Verifies a manifest for installation: signature under a certified, unrevoked, unexpired
    /// key; not expired; for this model; newer than <paramref name="installedVersion"/> unless a
    /// signed rollback directive allows <paramref name="allowedDowngradeTo"/>.
    /// </summary>
    public ModelManifest? CheckManifest(Signed? envelope, long nowUnixMs, ulong installedVersion, ulong? allowedDowngradeTo = null)
    {
        if (envelope is null) return RefusedNull<ModelManifest>("no signed manifest");
        lock (_gate)
        {
            EnsureLoaded();
            var verdict = _verifier.VerifyManifest(envelope, nowUnixMs);
            if (verdict.Ok) verdict = ManifestRules.CheckVersion(verdict.Value!, installedVersion, allowedDowngradeTo);
            return verdict.Ok ? verdict.Value : RefusedNull<ModelManifest>(verdict.Reason);
        }
    }

    /// <summary>Verifies an announcement: its trust bundle, its manifest, and that its unsigned fields match the manifest.</summary>
    public ModelManifest? CheckAnnouncement(ModelAnnouncement announcement, long nowUnixMs, ulong installedVersion)
    {
        if (!OfferBundle(announcement.Trust)) return null;
        var manifest = CheckManifest(announcement.Manifest, nowUnixMs, installedVersion);
        if (manifest is null) return null;
        var match = ManifestRules.MatchesAnnouncement(manifest, announcement);
        return match.Ok ? manifest : RefusedNull<ModelManifest>(match.Reason);
    }

    /// <summary>Verifies a rollout plan's signature (rollout role) and fleet.</summary>
    public RolloutPlan? CheckPlan(Signed envelope, long nowUnixMs)
    {
        lock (_gate)
        {
            EnsureLoaded();
            var verdict = _verifier.VerifyPlan(envelope, nowUnixMs);
            return verdict.Ok ? verdict.Value : RefusedNull<RolloutPlan>(verdict.Reason);
        }
    }

    /// <summary>Verifies a freshness statement (timestamp role, fleet, not expired).</summary>
    public FreshnessStatement? CheckFreshness(Signed envelope, long nowUnixMs)
    {
        lock (_gate)
        {
            EnsureLoaded();
            var verdict = _verifier.VerifyFreshness(envelope, nowUnixMs);
            return verdict.Ok ? verdict.Value : RefusedNull<FreshnessStatement>(verdict.Reason);
        }
    }

    /// <summary>Verifies a round task's signature (a key certified for manifests), fleet, and that it names <paramref name="deviceId"/>.</summary>
    public RoundTask? CheckTask(Signed envelope, long nowUnixMs, string deviceId)
    {
        lock (_gate)
        {
            EnsureLoaded();
            var verdict = _verifier.VerifyTask(envelope, nowUnixMs);
            if (!verdict.Ok) return RefusedNull<RoundTask>(verdict.Reason);
            var task = verdict.Value!;
            return task.DeviceId == deviceId ? task : RefusedNull<RoundTask>($"task {task.RoundId} is for device '{task.DeviceId}'");
        }
    }

    /// <summary>Verifies the fleet's catalogue of model lines (rollout role, fleet, well-formed lines).</summary>
    public ModelCatalogue? CheckCatalogue(Signed envelope, long nowUnixMs)
    {
        lock (_gate)
        {
            EnsureLoaded();
            var verdict = _verifier.VerifyCatalogue(envelope, nowUnixMs);
            return verdict.Ok ? verdict.Value : RefusedNull<ModelCatalogue>(verdict.Reason);
        }
    }

    /// <summary>True once a trust bundle is held (what every other check needs first).</summary>
    public bool HasBundle
    {
        get
        {
            lock (_gate)
            {
                EnsureLoaded();
                return _verifier.Bundle is not null;
            }
        }
    }

    /// <summary>Counts a rejection found elsewhere (artifact hash or size, load failure).</summary>
    public void Reject(string reason) => Refused(reason);

    private T? RefusedNull<T>(string reason) where T : class
    {
        Refused(reason);
        return null;
    }

    private bool Refused(string reason)
    {
        Interlocked.Increment(ref _rejections);
        lock (_gate) _lastRejection = reason;
        return false;
    }
}
