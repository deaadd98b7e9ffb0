using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Trust;

/// <summary>
/// The aggregator's keys (TUF roles): a root key that certifies signing keys in a versioned trust
/// bundle, the active signing key that signs manifests and rollout plans, and a timestamp key that signs only the
/// short-lived freshness statements (a stolen timestamp key can delay what a device hears, never make it install or
/// follow anything). Rotating makes a new signing key, a new timestamp key and a new bundle (optionally revoking the
/// old keys); devices follow without any change on their side because they pin only the root. The root can live outside the data directory
/// (<see cref="TrustOptions.RootKeyFile"/>); by default it is generated beside the registry.
/// </summary>
public sealed class KeyRing : IDisposable
{
    private readonly string _directory;
    private readonly TrustOptions _options;
    private readonly string _fleet;
    private readonly object _gate = new();
    private readonly SigningKeyPair _root;
    private SigningKeyPair _signing;
    private SigningKeyPair _timestamp;
    private TrustBundle _bundle;
    private Signed _bundleEnvelope;

    public KeyRing(string directory, string fleet, TrustOptions options, DateTimeOffset now)
    {
        _directory = directory;
        _options = options;
        _fleet = fleet;
        Directory.CreateDirectory(directory);
        Runtime.Storage.AtomicFile.RemoveAbandoned(directory, EdgeMlOps.Aggregator.Registry.ArtifactStore.AbandonedAfter); // a key's or bundle's write a crash cut short
        _root = LoadOrCreate(options.RootKeyFile ?? Path.Combine(directory, "root.pk8"));
        File.WriteAllText(Path.Combine(directory, "root.pub"), Convert.ToBase64String(_root.PublicKey) + "\n");

        var bundlePath = Path.Combine(directory, "bundle.pb");
        _bundle = new TrustBundle { Fleet = fleet, Version = 0 };
        _bundleEnvelope = new Signed();
        if (File.Exists(bundlePath))
        {
            // Keep the version counter and the revocations even when the key or the root changes:
            // devices refuse a bundle older than the one they hold.
            (_bundleEnvelope, _bundle) = KeyMaterialException.Read(bundlePath, () =>
            {
                var envelope = Signed.Parser.ParseFrom(File.ReadAllBytes(bundlePath));
                return (envelope, TrustBundle.Parser.ParseFrom(envelope.Body));
            });
            var active = Usable(KeyRole.Manifest, now);
            var signedByThisRoot = _bundleEnvelope.Signatures.Any(sig => sig.KeyId == Signatures.KeyIdOf(_root.PublicKey));
            if (active is not null && signedByThisRoot)
            {
                _signing = ReadKey(SigningKeyPath(active.KeyId));
                if (Usable(KeyRole.Timestamp, now) is { } timestamp)
                {
                    _timestamp = ReadKey(SigningKeyPath(timestamp.KeyId));
                }
                else
                {
                    // A data directory from before the timestamp role: certify a timestamp key beside the signing key.
                    _timestamp = SigningKeyPair.Generate();
                    Publish([(_timestamp, TimestampRoles)], [], now);
                }

                return;
            }
        }

        // First start, a new root, or no usable signing key left: certify fresh keys in the next bundle.
        _signing = SigningKeyPair.Generate();
        _timestamp = SigningKeyPair.Generate();
        Publish([(_signing, SigningRoles), (_timestamp, TimestampRoles)], [], now);
    }

    private static readonly KeyRole[] SigningRoles = [KeyRole.Manifest, KeyRole.Rollout];
    private static readonly KeyRole[] TimestampRoles = [KeyRole.Timestamp];

    /// <summary>A signing key this close to its expiry is replaced (at start, or by <see cref="RotateIfExpiring"/>).</summary>
    public TimeSpan RenewBefore => TimeSpan.FromTicks(Math.Max(TimeSpan.FromDays(1).Ticks, _options.SigningKeyLifetime.Ticks / 10));

    /// <summary>The root public key (SubjectPublicKeyInfo) devices pin.</summary>
    public byte[] RootPublicKey => _root.PublicKey;

    public string SigningKeyId
    {
        get { lock (_gate) return _signing.KeyId; }
    }

    /// <summary>The key that signs freshness statements.</summary>
    public string TimestampKeyId
    {
        get { lock (_gate) return _timestamp.KeyId; }
    }

    public TrustBundle Bundle
    {
        get { lock (_gate) return _bundle; }
    }

    /// <summary>The current trust bundle, signed by the root.</summary>
    public Signed BundleEnvelope
    {
        get { lock (_gate) return _bundleEnvelope; }
    }

    /// <summary>Signs <paramref name="body"/> with the active signing key.</summary>
    public Signed Sign<T>(T body) where T : IMessage<T>, new()
    {
        lock (_gate) return Signatures.Sign(body, _signing);
    }

    /// <summary>Signs a freshness statement with the timestamp key (the only thing that key may sign).</summary>
    public Signed SignFreshness(FreshnessStatement statement)
    {
        lock (_gate) return Signatures.Sign(statement, _timestamp);
    }

    /// <summary>Certifies a new signing key and a new timestamp key; with <paramref name="revokeOld"/> the old ones are revoked in the same bundle.</summary>
    public string Rotate(bool revokeOld, DateTimeOffset now)
    {
        lock (_gate)
        {
            var (oldSigning, oldTimestamp) = (_signing, _timestamp);
            var (signing, timestamp) = (SigningKeyPair.Generate(), SigningKeyPair.Generate());
            Publish([(signing, SigningRoles), (timestamp, TimestampRoles)], revokeOld ? [oldSigning.KeyId, oldTimestamp.KeyId] : [], now);
            (_signing, _timestamp) = (signing, timestamp);
            oldSigning.Dispose();
            oldTimestamp.Dispose();
            return signing.KeyId;
        }
    }

    /// <summary>Certifies a fresh signing key if the active one expires within <see cref="RenewBefore"/>; returns the new key id, or null.</summary>
    public string? RotateIfExpiring(DateTimeOffset now)
    {
        lock (_gate)
        {
            var renewBefore = (now + RenewBefore).ToUnixTimeMilliseconds();
            var fresh = new[] { _signing.KeyId, _timestamp.KeyId }.All(id => _bundle.Keys.FirstOrDefault(k => k.KeyId == id) is { } key && key.ExpiresUnixMs > renewBefore);
            return fresh ? null : Rotate(revokeOld: false, now);
        }
    }

    public void Dispose()
    {
        _root.Dispose();
        _signing.Dispose();
        _timestamp.Dispose();
    }

    /// <summary>The unrevoked key for <paramref name="role"/> furthest from expiry whose private half is here, if it is not about to expire.</summary>
    private SigningKey? Usable(KeyRole role, DateTimeOffset now) =>
        _bundle.Keys.Where(k => k.Roles.Contains(role) && !_bundle.RevokedKeyIds.Contains(k.KeyId) && k.ExpiresUnixMs > now.ToUnixTimeMilliseconds() + (long)RenewBefore.TotalMilliseconds)
            .OrderByDescending(k => k.ExpiresUnixMs)
            .FirstOrDefault(k => File.Exists(SigningKeyPath(k.KeyId)));

    private void Publish(IReadOnlyList<(SigningKeyPair Key, KeyRole[] Roles)> added, IReadOnlyList<string> revoke, DateTimeOffset now)
    {
        var bundle = new TrustBundle { Fleet = _fleet, Version = _bundle.Version + 1, IssuedUnixMs = now.ToUnixTimeMilliseconds() };
        bundle.RevokedKeyIds.AddRange(_bundle.RevokedKeyIds);
        bundle.RevokedKeyIds.AddRange(revoke.Where(id => !bundle.RevokedKeyIds.Contains(id)));
        bundle.Keys.AddRange(_bundle.Keys.Where(k => !bundle.RevokedKeyIds.Contains(k.KeyId) && k.ExpiresUnixMs > now.ToUnixTimeMilliseconds()));
        foreach (var (key, roles) in added)
        {
            WriteSecret(SigningKeyPath(key.KeyId), key.ExportPkcs8());
            bundle.Keys.Add(new SigningKey
            {
                KeyId = key.KeyId,
                PublicKey = ByteString.CopyFrom(key.PublicKey),
                Roles = { roles },
                ExpiresUnixMs = (now + _options.SigningKeyLifetime).ToUnixTimeMilliseconds(),
            });
        }

        var envelope = Signatures.Sign(bundle, _root);
        var path = Path.Combine(_directory, "bundle.pb");
        Runtime.Storage.AtomicFile.Write(path, envelope.ToByteArray(), durable: false);
        (_bundle, _bundleEnvelope) = (bundle, envelope);
    }

    private string SigningKeyPath(string keyId) => Path.Combine(_directory, $"signing-{keyId}.pk8");

    private static SigningKeyPair LoadOrCreate(string path)
    {
        if (File.Exists(path)) return ReadKey(path);
        var key = SigningKeyPair.Generate();
        WriteSecret(path, key.ExportPkcs8());
        return key;
    }

    private static SigningKeyPair ReadKey(string path) => KeyMaterialException.Read(path, () => SigningKeyPair.FromPkcs8(File.ReadAllBytes(path)));

    /// <summary>Private keys: owner read/write only, written atomically.</summary>
    private static void WriteSecret(string path, byte[] bytes)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        Runtime.Storage.AtomicFile.Write(path, bytes, durable: true, ownerOnly: true);
    }
}

/// <summary>Keys and lifetimes. Section <c>Aggregator:Trust</c>.</summary>
public sealed record TrustOptions
{
    /// <summary>PKCS#8 file of the root key (kept offline in production); null: generated in the data directory.</summary>
    public string? RootKeyFile { get; init; }

    public TimeSpan SigningKeyLifetime { get; init; } = TimeSpan.FromDays(365);

    /// <summary>Manifests expire this long after signing; the aggregator re-signs its announcements well before.</summary>
    public TimeSpan ManifestLifetime { get; init; } = TimeSpan.FromDays(30);

    /// <summary>Freshness statements expire this long after issue; the aggregator issues one every quarter of it, and after every retained statement.</summary>
    public TimeSpan TimestampLifetime { get; init; } = TimeSpan.FromHours(1);
}
