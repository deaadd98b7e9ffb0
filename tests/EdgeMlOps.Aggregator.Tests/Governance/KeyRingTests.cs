using EdgeMlOps.Aggregator.Trust;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;

namespace EdgeMlOps.Aggregator.Tests.Governance;

public sealed class KeyRingTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);

    private static ModelManifest Manifest() => new()
    {
        Fleet = "f", ModelName = "m", Version = 2, Architecture = new ModelArchitecture { InputDim = 4, Classes = 2 },
        Artifacts = { new ArtifactRef { Name = ManifestRules.InferenceArtifact, Sha256 = new string('a', 64), Size = 1 } },
        ExpiresUnixMs = (T0 + TimeSpan.FromDays(400)).ToUnixTimeMilliseconds(),
    };

    [Fact]
    public void Restart_KeepsTheSigningKeyAndBundle_AndADeviceKeepsVerifying()
    {
        var dir = AggregatorFixture.TempDirectory();
        string keyId;
        TrustBundle bundle;
        using (var first = new KeyRing(dir, "f", new TrustOptions(), T0))
        {
            keyId = first.SigningKeyId;
            bundle = first.Bundle;
        }

        using var second = new KeyRing(dir, "f", new TrustOptions(), T0.AddDays(1));
        Assert.Equal(keyId, second.SigningKeyId);
        Assert.Equal(bundle, second.Bundle);
        var device = new TrustVerifier("f", [second.RootPublicKey]);
        Assert.True(device.AcceptBundle(second.BundleEnvelope).Ok);
        Assert.True(device.VerifyManifest(second.Sign(Manifest()), T0.AddDays(1).ToUnixTimeMilliseconds()).Ok);
    }

    [Fact]
    public void ExpiringSigningKey_IsRenewedInTheNextBundleVersion_WhichDevicesAccept()
    {
        var dir = AggregatorFixture.TempDirectory();
        var options = new TrustOptions { SigningKeyLifetime = TimeSpan.FromDays(30) };
        using var ring = new KeyRing(dir, "f", options, T0);
        var device = new TrustVerifier("f", [ring.RootPublicKey]);
        Assert.True(device.AcceptBundle(ring.BundleEnvelope).Ok);
        var old = ring.SigningKeyId;

        Assert.Null(ring.RotateIfExpiring(T0.AddDays(10)));
        var renewed = ring.RotateIfExpiring(T0.AddDays(29));
        Assert.NotNull(renewed);
        Assert.NotEqual(old, renewed);
        Assert.Equal(2UL, ring.Bundle.Version);
        Assert.True(device.AcceptBundle(ring.BundleEnvelope).Ok);
        Assert.True(device.VerifyManifest(ring.Sign(Manifest()), T0.AddDays(29).ToUnixTimeMilliseconds()).Ok);

        // Restarted after every key expired: a new key in bundle v3 (the count goes on, so devices accept it), expired keys dropped.
        using var later = new KeyRing(dir, "f", options, T0.AddDays(70));
        Assert.Equal(3UL, later.Bundle.Version);
        Assert.Equal([later.SigningKeyId, later.TimestampKeyId], later.Bundle.Keys.Select(k => k.KeyId));
        Assert.True(device.AcceptBundle(later.BundleEnvelope).Ok);
    }

    private static FreshnessStatement Freshness() => new() { Fleet = "f", IssuedUnixMs = T0.ToUnixTimeMilliseconds(), ExpiresUnixMs = T0.AddHours(1).ToUnixTimeMilliseconds() };

    [Fact]
    public void TheTimestampKey_IsItsOwnKey_CertifiedOnlyForFreshness_AndRotatedAndRevokedWithTheSigningKey()
    {
        using var ring = new KeyRing(AggregatorFixture.TempDirectory(), "f", new TrustOptions(), T0);
        Assert.NotEqual(ring.SigningKeyId, ring.TimestampKeyId);
        Assert.Equal([KeyRole.Timestamp], ring.Bundle.Keys.Single(k => k.KeyId == ring.TimestampKeyId).Roles);
        var device = new TrustVerifier("f", [ring.RootPublicKey]);
        Assert.True(device.AcceptBundle(ring.BundleEnvelope).Ok);
        Assert.True(device.VerifyFreshness(ring.SignFreshness(Freshness()), T0.ToUnixTimeMilliseconds()).Ok);
        Assert.Equal(TrustFailure.WrongRole, device.VerifyFreshness(ring.Sign(Freshness()), T0.ToUnixTimeMilliseconds()).Failure);

        var oldTimestamp = ring.TimestampKeyId;
        var oldStatement = ring.SignFreshness(Freshness());
        ring.Rotate(revokeOld: true, T0.AddMinutes(1));
        Assert.NotEqual(oldTimestamp, ring.TimestampKeyId);
        Assert.Contains(oldTimestamp, ring.Bundle.RevokedKeyIds);
        Assert.True(device.AcceptBundle(ring.BundleEnvelope).Ok);
        Assert.Equal(TrustFailure.UnknownKey, device.VerifyFreshness(oldStatement, T0.AddMinutes(1).ToUnixTimeMilliseconds()).Failure); // revoked keys leave the bundle
    }

    [Fact]
    public void ADataDirectoryFromBeforeTheTimestampRole_KeepsItsSigningKey_AndGetsATimestampKeyInTheNextBundle()
    {
        var dir = AggregatorFixture.TempDirectory();
        string signing;
        using (var ring = new KeyRing(dir, "f", new TrustOptions(), T0)) signing = ring.SigningKeyId;

        // What an older aggregator left: bundle v1 certifying only the signing key.
        using (var root = SigningKeyPair.FromPkcs8(File.ReadAllBytes(Path.Combine(dir, "root.pk8"))))
        {
            var bundle = TrustBundle.Parser.ParseFrom(Signed.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, "bundle.pb"))).Body);
            var old = new TrustBundle { Fleet = "f", Version = 1, Keys = { bundle.Keys.Where(k => k.KeyId == signing) } };
            File.WriteAllBytes(Path.Combine(dir, "bundle.pb"), Google.Protobuf.MessageExtensions.ToByteArray(Signatures.Sign(old, root)));
        }

        using var upgraded = new KeyRing(dir, "f", new TrustOptions(), T0.AddDays(1));
        Assert.Equal(signing, upgraded.SigningKeyId);
        Assert.Equal(2UL, upgraded.Bundle.Version);
        Assert.Equal([KeyRole.Timestamp], upgraded.Bundle.Keys.Single(k => k.KeyId == upgraded.TimestampKeyId).Roles);
        var device = new TrustVerifier("f", [upgraded.RootPublicKey]);
        Assert.True(device.AcceptBundle(upgraded.BundleEnvelope).Ok);
        Assert.True(device.VerifyFreshness(upgraded.SignFreshness(Freshness()), T0.ToUnixTimeMilliseconds()).Ok);
    }
}
