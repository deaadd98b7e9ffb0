using System.Buffers;
using EdgeMlOps.Agent.Models;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;

namespace EdgeMlOps.Agent.Tests.Models;

/// <summary>The device side of the timestamp role: fresh while it holds what a fresh statement names, behind otherwise.</summary>
public sealed class FreshnessTrackerTests : IDisposable
{
    private const long Now = 1_800_000_000_000;
    private const long Lifetime = 3_600_000;
    private const string Model = "edgemlops/v1/f/model";
    private const string Rollout = "edgemlops/v1/f/rollout";
    private readonly SigningKeyPair _root = SigningKeyPair.Generate();
    private readonly SigningKeyPair _timestamp = SigningKeyPair.Generate();
    private readonly TrustGate _trust;
    private readonly FreshnessTracker _tracker;

    public FreshnessTrackerTests()
    {
        _trust = new TrustGate("f", [_root.PublicKey], null);
        var bundle = new TrustBundle
        {
            Fleet = "f", Version = 1,
            Keys = { new SigningKey { KeyId = _timestamp.KeyId, PublicKey = ByteString.CopyFrom(_timestamp.PublicKey), Roles = { KeyRole.Timestamp }, ExpiresUnixMs = Now + 10 * Lifetime } },
        };
        Assert.True(_trust.OfferBundle(Signatures.Sign(bundle, _root)));
        _tracker = new FreshnessTracker([Model, Rollout, "edgemlops/v1/f/trust"], _trust);
    }

    public void Dispose()
    {
        _root.Dispose();
        _timestamp.Dispose();
    }

    private static ReadOnlySequence<byte> Bytes(string text) => new(System.Text.Encoding.UTF8.GetBytes(text));

    private Signed Statement(long issued, params (string Topic, string Payload)[] named)
    {
        var statement = new FreshnessStatement { Fleet = "f", IssuedUnixMs = issued, ExpiresUnixMs = issued + Lifetime };
        foreach (var (topic, payload) in named) statement.Statements.Add(new RetainedDigest { Topic = topic, Sha256 = ContentHash.Sha256Hex(System.Text.Encoding.UTF8.GetBytes(payload)) });
        return Signatures.Sign(statement, _timestamp);
    }

    [Fact]
    public void WithoutAStatement_TheManifestsExpiryDecides()
    {
        Assert.Equal(Now + 30 * 86_400_000L, _tracker.FreshUntilUnixMs(Now + 30 * 86_400_000L));
    }

    [Fact]
    public void HoldingWhatTheStatementNames_IsFreshUntilItExpires()
    {
        _tracker.Received(Model, Bytes("v3"), Now);
        _tracker.Offer(Statement(Now, (Model, "v3")), Now);
        Assert.Empty(_tracker.Lacking);
        Assert.Equal(Now + Lifetime, _tracker.FreshUntilUnixMs(0));
        Assert.Equal(0, _trust.Rejections);
    }

    [Fact]
    public void AStatementDatedAYearAhead_IsRefused_AndTheRealOnesAfterItAreHeld()
    {
        // Held, it outranked every real statement for a year (each must be newer than the one held), and the device stayed
        // "fresh" on it whatever the fleet announced after: a freeze of a year from one mis-dated statement.
        _tracker.Received(Model, Bytes("v3"), Now);
        _tracker.Offer(Statement(Now + (365L * 86_400_000), (Model, "v3")), Now);
        Assert.Equal(1, _trust.Rejections);
        Assert.Contains("ahead of this clock", _trust.LastRejection, StringComparison.Ordinal);

        _tracker.Offer(Statement(Now, (Model, "v4")), Now);
        Assert.Equal([Model], _tracker.Lacking); // the real statement names v4: the device knows it is behind
    }

    [Fact]
    public void AWithheldStatement_MakesTheDeviceBehindAfterAShortGrace_UntilItArrives()
    {
        _tracker.Received(Model, Bytes("v3"), Now);
        // The statement names v4, which never reaches this device (withheld), and a plan it has not seen either.
        _tracker.Offer(Statement(Now + 10, (Model, "v4"), (Rollout, "plan-7")), Now + 20);
        Assert.Equal([Model, Rollout], _tracker.Lacking);
        Assert.Equal(Now + 20 + 60_000, _tracker.FreshUntilUnixMs(0)); // a minute's grace (a quarter lifetime is longer)

        // Later statements keep naming it: the grace runs from when the gap was first seen, not from each statement.
        _tracker.Offer(Statement(Now + 900_000, (Model, "v4"), (Rollout, "plan-7")), Now + 900_000);
        Assert.Equal(Now + 20 + 60_000, _tracker.FreshUntilUnixMs(0));

        _tracker.Received(Model, Bytes("v4"), Now + 900_001);
        _tracker.Received(Rollout, Bytes("plan-7"), Now + 900_002);
        Assert.Empty(_tracker.Lacking);
        Assert.Equal(Now + 900_000 + Lifetime, _tracker.FreshUntilUnixMs(0));
    }

    [Fact]
    public void TopicsTheDeviceDoesNotWatch_AreNotAwaited()
    {
        _tracker.Received(Model, Bytes("v3"), Now);
        _tracker.Offer(Statement(Now, (Model, "v3"), ("edgemlops/v1/f/something-new", "x")), Now);
        Assert.Empty(_tracker.Lacking);
    }

    [Fact]
    public void AReplayedOlderStatement_IsRefusedAndCounted_TheSameOneAgainIsNot()
    {
        var first = Statement(Now, (Model, "v3"));
        var second = Statement(Now + 1_000, (Model, "v3"));
        _tracker.Received(Model, Bytes("v3"), Now);
        _tracker.Offer(second, Now + 1_000);
        _tracker.Offer(second, Now + 2_000); // redelivered as the retained message on a reconnection
        Assert.Equal(0, _trust.Rejections);

        Assert.True(_tracker.Offer(first, Now + 3_000));
        Assert.Equal(1, _trust.Rejections);
        Assert.Contains("replay", _trust.LastRejection, StringComparison.Ordinal);
        Assert.Equal(Now + 1_000 + Lifetime, _tracker.FreshUntilUnixMs(0));
    }

    [Fact]
    public void AForgedStatement_IsRefusedAndCounted()
    {
        using var forger = SigningKeyPair.Generate();
        var forged = Signatures.Sign(new FreshnessStatement { Fleet = "f", IssuedUnixMs = Now, ExpiresUnixMs = Now + 100 * Lifetime }, forger);
        Assert.True(_tracker.Offer(forged, Now));
        Assert.Equal(1, _trust.Rejections);
        Assert.Equal(5L, _tracker.FreshUntilUnixMs(5));
    }

    [Fact]
    public void StatusesGoOutWhenFreshnessMovesHalfALifetime_OrFalls_NotForEveryStatement()
    {
        _tracker.Received(Model, Bytes("v3"), Now);
        Assert.True(_tracker.Offer(Statement(Now, (Model, "v3")), Now), "the first statement moves freshness from the manifests' to its own");
        _tracker.Report(0);
        Assert.False(_tracker.Offer(Statement(Now + 900_000, (Model, "v3")), Now + 900_000), "a quarter lifetime later: the reported one is still far ahead");
        Assert.True(_tracker.Offer(Statement(Now + 1_800_000, (Model, "v3")), Now + 1_800_000), "half a lifetime later");
        _tracker.Report(0);
        Assert.True(_tracker.Offer(Statement(Now + 1_800_001, (Model, "v4")), Now + 1_800_001), "something is missing: freshness fell");
    }
}
