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
        Assert.Equal(later.SigningKeyId, Assert.Single(later.Bundle.Keys).KeyId);
        Assert.True(device.AcceptBundle(later.BundleEnvelope).Ok);
    }
}
