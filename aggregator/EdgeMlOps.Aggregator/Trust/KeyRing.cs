using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Trust;

/// <summary>
/// The aggregator's keys (TUF roles): a root key that certifies signing keys in a versioned trust
/// bundle, and the active signing key that signs manifests and rollout plans. Rotating makes a new
/// signing key and a new bundle (optionally revoking the old key); devices follow without any change
/// on their side because they pin only the root. The root can live outside the data directory
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
    private TrustBundle _bundle;
    private Signed _bundleEnvelope;

    public KeyRing(string directory, string fleet, TrustOptions options, DateTimeOffset now)
    {
        _directory = directory;
        _options = options;
        _fleet = fleet;
        Directory.CreateDirectory(directory);
        _root = LoadOrCreate(options.RootKeyFile ?? Path.Combine(directory, "root.pk8"));
        File.WriteAllText(Path.Combine(directory, "root.pub"), Convert.ToBase64String(_root.PublicKey) + "\n");

        var bundlePath = Path.Combine(directory, "bundle.pb");
        _bundle = new TrustBundle { Fleet = fleet, Version = 0 };
        _bundleEnvelope = new Signed();
        if (File.Exists(bundlePath))
        {
            // Keep the version counter and the revocations even when the key or the root changes:
            // devices refuse a bundle older than the one they hold.
            _bundleEnvelope = Signed.Parser.ParseFrom(File.ReadAllBytes(bundlePath));
            _bundle = TrustBundle.Parser.ParseFrom(_bundleEnvelope.Body);
            var active = _bundle.Keys.Where(k => !_bundle.RevokedKeyIds.Contains(k.KeyId) && k.ExpiresUnixMs > now.ToUnixTimeMilliseconds() + (long)RenewBefore.TotalMilliseconds)
                .OrderByDescending(k => k.ExpiresUnixMs)
                .FirstOrDefault(k => File.Exists(SigningKeyPath(k.KeyId)));
            var signedByThisRoot = _bundleEnvelope.Signatures.Any(sig => sig.KeyId == Signatures.KeyIdOf(_root.PublicKey));
            if (active is not null && signedByThisRoot)
            {
                _signing = SigningKeyPair.FromPkcs8(File.ReadAllBytes(SigningKeyPath(active.KeyId)));
                return;
            }
        }

        // First start, a new root, or no usable signing key left: certify a fresh one in the next bundle.
        _signing = SigningKeyPair.Generate();
        Publish(_signing, revoke: null, now);
    }

    /// <summary>A signing key this close to its expiry is replaced (at start, or by <see cref="RotateIfExpiring"/>).</summary>
    public TimeSpan RenewBefore => TimeSpan.FromTicks(Math.Max(TimeSpan.FromDays(1).Ticks, _options.SigningKeyLifetime.Ticks / 10));

    /// <summary>The root public key (SubjectPublicKeyInfo) devices pin.</summary>
    public byte[] RootPublicKey => _root.PublicKey;

    public string SigningKeyId
    {
        get { lock (_gate) return _signing.KeyId; }
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

    /// <summary>Certifies a new signing key; with <paramref name="revokeOld"/> the old one is revoked in the same bundle.</summary>
    public string Rotate(bool revokeOld, DateTimeOffset now)
    {
        lock (_gate)
        {
            var old = _signing;
            var fresh = SigningKeyPair.Generate();
            Publish(fresh, revokeOld ? old.KeyId : null, now);
            _signing = fresh;
            old.Dispose();
            return fresh.KeyId;
        }
    }

    /// <summary>Certifies a fresh signing key if the active one expires within <see cref="RenewBefore"/>; returns the new key id, or null.</summary>
    public string? RotateIfExpiring(DateTimeOffset now)
    {
        lock (_gate)
        {
            var active = _bundle.Keys.FirstOrDefault(k => k.KeyId == _signing.KeyId);
            return active is not null && active.ExpiresUnixMs > (now + RenewBefore).ToUnixTimeMilliseconds() ? null : Rotate(revokeOld: false, now);
        }
    }

    public void Dispose()
    {
        _root.Dispose();
        _signing.Dispose();
    }

    private void Publish(SigningKeyPair? added, string? revoke, DateTimeOffset now)
    {
        var bundle = new TrustBundle { Fleet = _fleet, Version = _bundle.Version + 1, IssuedUnixMs = now.ToUnixTimeMilliseconds() };
        bundle.RevokedKeyIds.AddRange(_bundle.RevokedKeyIds);
        if (revoke is not null && !bundle.RevokedKeyIds.Contains(revoke)) bundle.RevokedKeyIds.Add(revoke);
        bundle.Keys.AddRange(_bundle.Keys.Where(k => !bundle.RevokedKeyIds.Contains(k.KeyId) && k.ExpiresUnixMs > now.ToUnixTimeMilliseconds()));
        if (added is not null)
        {
            WriteSecret(SigningKeyPath(added.KeyId), added.ExportPkcs8());
            bundle.Keys.Add(new SigningKey
            {
                KeyId = added.KeyId,
                PublicKey = ByteString.CopyFrom(added.PublicKey),
                Roles = { KeyRole.Manifest, KeyRole.Rollout },
                ExpiresUnixMs = (now + _options.SigningKeyLifetime).ToUnixTimeMilliseconds(),
            });
        }

        var envelope = Signatures.Sign(bundle, _root);
        var path = Path.Combine(_directory, "bundle.pb");
        File.WriteAllBytes(path + ".tmp", envelope.ToByteArray());
        File.Move(path + ".tmp", path, overwrite: true);
        (_bundle, _bundleEnvelope) = (bundle, envelope);
    }

    private string SigningKeyPath(string keyId) => Path.Combine(_directory, $"signing-{keyId}.pk8");

    private static SigningKeyPair LoadOrCreate(string path)
    {
        if (File.Exists(path)) return SigningKeyPair.FromPkcs8(File.ReadAllBytes(path));
        var key = SigningKeyPair.Generate();
        WriteSecret(path, key.ExportPkcs8());
        return key;
    }

    /// <summary>Private keys: owner read/write only, written atomically.</summary>
    private static void WriteSecret(string path, byte[] bytes)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(temp, options))
        {
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
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
}
