using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Tests.Edge;

/// <summary>The fleet's signed revocation list as a gateway follows it: verified, in issue order, waiting for the bundle that certifies its key.</summary>
public sealed class GatewayTrustTests : IDisposable
{
    private const long Now = 1_800_000_000_000;
    private readonly SigningKeyPair _root = SigningKeyPair.Generate();
    private readonly SigningKeyPair _signer = SigningKeyPair.Generate();
    private readonly SigningKeyPair _manifestOnly = SigningKeyPair.Generate();
    private readonly List<string[]> _revoked = [];

    public void Dispose()
    {
        _root.Dispose();
        _signer.Dispose();
        _manifestOnly.Dispose();
    }

    private Signed Bundle() => Signatures.Sign(
        new TrustBundle { Fleet = "f", Version = 1, Keys = { Certify(_signer, KeyRole.Manifest, KeyRole.Rollout), Certify(_manifestOnly, KeyRole.Manifest) } }, _root);

    private static SigningKey Certify(SigningKeyPair key, params KeyRole[] roles) => new()
    {
        KeyId = key.KeyId, PublicKey = ByteString.CopyFrom(key.PublicKey), Roles = { roles }, ExpiresUnixMs = Now + 86_400_000,
    };

    private Signed List(long issued, string[] ids, SigningKeyPair? key = null, string fleet = "f") =>
        Signatures.Sign(new DeviceRevocations { Fleet = fleet, IssuedUnixMs = issued, DeviceIds = { ids } }, key ?? _signer);

    private GatewayTrust Gateway() => new("f", _root.PublicKey) { DevicesRevoked = ids => _revoked.Add([.. ids]) };

    [Fact]
    public void AListBeforeTheBundleThatCertifiesItsKey_WaitsForIt_ThenAnOlderListChangesNothing()
    {
        var trust = Gateway();
        Assert.Null(trust.OfferRevocations(List(Now, ["dev-1"]), Now));
        Assert.Empty(_revoked);

        Assert.True(trust.AcceptBundle(Bundle(), Now).Ok);
        Assert.Equal(["dev-1"], Assert.Single(_revoked));

        Assert.Null(trust.OfferRevocations(List(Now - 1, []), Now)); // an older list (a replay) is ignored
        Assert.Null(trust.OfferRevocations(List(Now, ["dev-1"]), Now)); // the same one again: nothing new
        Assert.Single(_revoked);
        Assert.Null(trust.OfferRevocations(List(Now + 1, ["dev-1", "dev-2"]), Now));
        Assert.Equal(["dev-1", "dev-2"], _revoked[^1]);
    }

    [Fact]
    public void AListDatedAYearAhead_IsRefused_AndTheNextRealListIsFollowed()
    {
        // Taken, such a list outranked every real one for a year: a device revoked after it kept its site.
        var trust = Gateway();
        trust.AcceptBundle(Bundle(), Now);
        Assert.Contains("ahead of this clock", trust.OfferRevocations(List(Now + (365L * 86_400_000), []), Now), StringComparison.Ordinal);
        Assert.Null(trust.OfferRevocations(List(Now, ["dev-1"]), Now));
        Assert.Equal(["dev-1"], Assert.Single(_revoked));
    }

    [Fact]
    public void TheGatewaysOwnRounds_HearOfARevokedDevice_BeforeItsHostDoes()
    {
        var order = new List<string>();
        var trust = new GatewayTrust("f", _root.PublicKey, ids => order.Add("rounds " + string.Join(",", ids))) { DevicesRevoked = ids => order.Add("host " + string.Join(",", ids)) };
        trust.AcceptBundle(Bundle(), Now);
        Assert.Null(trust.OfferRevocations(List(Now, ["dev-1"]), Now));
        Assert.Equal(["rounds dev-1", "host dev-1"], order);
    }

    [Fact]
    public void ATamperedList_OneAManifestKeySigned_AnotherFleetsOrOneNamingNoDevice_IsRefusedWithTheReason()
    {
        var trust = Gateway();
        trust.AcceptBundle(Bundle(), Now);
        var tampered = List(Now, ["dev-1", "dev-2"]);
        var body = DeviceRevocations.Parser.ParseFrom(tampered.Body);
        body.DeviceIds.Remove("dev-2"); // dev-2 would be let back in
        tampered.Body = body.ToByteString();

        Assert.Contains("does not verify", trust.OfferRevocations(tampered, Now), StringComparison.Ordinal);
        Assert.Contains("may not sign a DeviceRevocations", trust.OfferRevocations(List(Now, ["dev-1"], _manifestOnly), Now), StringComparison.Ordinal);
        Assert.Contains("fleet 'g'", trust.OfferRevocations(List(Now, ["dev-1"], fleet: "g"), Now), StringComparison.Ordinal);
        Assert.Contains("not a device id", trust.OfferRevocations(List(Now, ["a/b"]), Now), StringComparison.Ordinal);
        Assert.Empty(_revoked);
    }
}
