using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Tensors;

namespace EdgeMlOps.Aggregator.Tests.Edge;

public class SiteRoundsTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
    private static readonly EdgeOptions Edge = new() { Settle = TimeSpan.FromSeconds(1), FlushBefore = TimeSpan.FromSeconds(5) };

    private static SiteRounds Rounds(long revocableBytes = SiteRounds.DefaultRevocableBytes) =>
        new(AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 2), "site-a", revocableBytes);

    /// <summary>Three tasked devices of which dev-1 and dev-3 report (and, in <paramref name="withDev2"/>, dev-2 between them).</summary>
    private static SiteRounds ThreeTasked(bool withDev2, long revocableBytes = SiteRounds.DefaultRevocableBytes)
    {
        var rounds = Rounds(revocableBytes);
        foreach (var device in new[] { "dev-1", "dev-2", "dev-3" }) rounds.Tasked(Task(device), Now);
        Assert.True(rounds.Offer("dev-1", Update("dev-1", 0.1f), Now).Accepted);
        if (withDev2) Assert.True(rounds.Offer("dev-2", Update("dev-2", 5f, samples: 40), Now).Accepted);
        Assert.True(rounds.Offer("dev-3", Update("dev-3", 0.3f), Now).Accepted);
        return rounds;
    }

    private static RoundTask Task(string device, string round = "r1") => new()
    {
        RoundId = round, ModelName = "tiny", BaseVersion = 1, RoundNumber = 1, Kind = TaskKind.Train, DeviceId = device, DeadlineUnixMs = (Now + TimeSpan.FromSeconds(60)).ToUnixTimeMilliseconds(),
    };

    private static ModelUpdate Update(string device, float value, string round = "r1", ulong samples = 10)
    {
        var layout = ParameterLayout.For(AggregatorFixture.Spec);
        var update = new ModelUpdate { Header = ProtocolInfo.NewHeader("test", device, 1, 0), RoundId = round, ModelName = "tiny", BaseVersion = 1, SampleCount = samples };
        update.Delta.AddRange(TensorCodec.Encode(layout, Enumerable.Repeat(value, layout.TotalLength).ToArray()));
        return update;
    }

    [Fact]
    public void ARoundsSiteUpdates_MakeOnePartial_OnceEveryTaskedDeviceReported_AndTheTasksSettled()
    {
        var rounds = Rounds();
        rounds.Tasked(Task("dev-1"), Now);
        rounds.Tasked(Task("dev-2"), Now);
        Assert.True(rounds.Offer("dev-1", Update("dev-1", 0.1f), Now).Accepted);
        Assert.Empty(rounds.TakeDue(Now, Edge)); // dev-2 still owes its update
        Assert.True(rounds.Offer("dev-2", Update("dev-2", 0.3f), Now).Accepted);
        Assert.Empty(rounds.TakeDue(Now + TimeSpan.FromMilliseconds(500), Edge)); // more tasks may be on their way

        var partial = Assert.Single(rounds.TakeDue(Now + TimeSpan.FromSeconds(1), Edge));
        Assert.Equal(("r1", "site-a", 2u, "tiny", 1UL), (partial.Share.RoundId, partial.Share.Replica, partial.Share.Count, partial.ModelName, partial.BaseVersion));
        Assert.Equal(["dev-1", "dev-2"], partial.Share.Contributors.Select(c => c.DeviceId).Order());
        Assert.Empty(rounds.TakeDue(Now + TimeSpan.FromSeconds(2), Edge)); // taken once
    }

    [Fact]
    public void UpdatesTheSiteMustNotCount_AreRefusedWithTheirReason()
    {
        var rounds = Rounds();
        rounds.Tasked(Task("dev-1"), Now);
        Assert.Equal(RejectionReason.UnknownRound, rounds.Offer("dev-1", Update("dev-1", 0.1f, round: "r9"), Now).Reason);
        Assert.Equal(RejectionReason.NotSelected, rounds.Offer("dev-2", Update("dev-2", 0.1f), Now).Reason);
        Assert.Equal(RejectionReason.BadSampleCount, rounds.Offer("dev-1", Update("dev-1", 0.1f, samples: 0), Now).Reason);
        Assert.True(rounds.Offer("dev-1", Update("dev-1", 0.1f), Now).Accepted);
        Assert.Equal(RejectionReason.Duplicate, rounds.Offer("dev-1", Update("dev-1", 0.2f), Now).Reason);
        Assert.Equal(RejectionReason.RoundClosed, rounds.Offer("dev-1", Update("dev-1", 0.1f), Now + TimeSpan.FromMinutes(2)).Reason);
    }

    [Fact]
    public void ADeviceRevokedAfterItsUpdateWasFolded_IsTakenOutOfTheUnsentPartial_WhichEqualsTheOthersAlone()
    {
        var rounds = ThreeTasked(withDev2: true);
        Assert.True(rounds.KeptBytes > 0);

        var change = Assert.Single(rounds.Revoked(["dev-2", "dev-9"]));
        Assert.Contains("took revoked dev-2 out of the site's unsent partial, 2 updates folded again", change, StringComparison.Ordinal);
        Assert.Equal(RejectionReason.NotAuthorized, rounds.Offer("dev-2", Update("dev-2", 5f), Now).Reason);

        var partial = Assert.Single(rounds.TakeDue(Now + TimeSpan.FromSeconds(1), Edge));
        Assert.Equal(["dev-1", "dev-3"], partial.Share.Contributors.Select(c => c.DeviceId).Order());
        var without = Assert.Single(ThreeTasked(withDev2: false).TakeDue(Now + TimeSpan.FromSeconds(55), Edge));
        Assert.Equal(without.Share, partial.Share); // the same sums, weights and contributors, bit for bit
        Assert.True(rounds.KeptBytes > 0); // sent, and kept until the deadline for a replacement
        Assert.Empty(rounds.TakeDue(Now + TimeSpan.FromSeconds(61), Edge));
        Assert.Equal(0, rounds.KeptBytes); // past the deadline nothing of the round counts: let go
    }

    [Fact]
    public void ADeviceRevokedAfterThePartialWasSent_GetsAReplacementWithoutIt_AndTheAggregatorCountsTheOthersExactlyOnce()
    {
        var rounds = ThreeTasked(withDev2: true);
        var original = Assert.Single(rounds.TakeDue(Now + TimeSpan.FromSeconds(1), Edge));
        Assert.Equal(3u, original.Share.Count);

        var change = Assert.Single(rounds.Revoked(["dev-2"]));
        Assert.Contains("already sent held revoked dev-2; a replacement with the other 2 updates follows", change, StringComparison.Ordinal);
        var replacement = Assert.Single(rounds.TakeDue(Now + TimeSpan.FromSeconds(2), Edge));
        var without = Assert.Single(ThreeTasked(withDev2: false).TakeDue(Now + TimeSpan.FromSeconds(55), Edge));
        Assert.Equal(without.Share, replacement.Share); // the other two's sums and weights, bit for bit

        // At the aggregator, in either order of the revocation and the original's arrival, dev-1 and dev-3 count once.
        var revoked = new HashSet<string> { "dev-2" };
        Assert.Equal(["dev-1", "dev-3"], AtTheAggregator(revoked, original, replacement)); // the revocation was first: the original is refused, the replacement counts
        Assert.Equal(["dev-1", "dev-2", "dev-3"], AtTheAggregator([], original, replacement)); // the original was first: it stands, the replacement is a duplicate

        // A later revocation replaces the replacement; one of a batch too large to keep, or past the deadline, changes nothing.
        Assert.Contains("a replacement with the other 1 updates follows", Assert.Single(rounds.Revoked(["dev-1"])), StringComparison.Ordinal);
        Assert.Equal(["dev-3"], Assert.Single(rounds.TakeDue(Now + TimeSpan.FromSeconds(3), Edge)).Share.Contributors.Select(c => c.DeviceId));
        Assert.Empty(rounds.TakeDue(Now + TimeSpan.FromSeconds(61), Edge));
        Assert.Empty(rounds.Revoked(["dev-3"]));
        var unkept = ThreeTasked(withDev2: true, revocableBytes: 1);
        Assert.Single(unkept.TakeDue(Now + TimeSpan.FromSeconds(1), Edge));
        Assert.Empty(unkept.Revoked(["dev-2"]));
        Assert.Empty(unkept.TakeDue(Now + TimeSpan.FromSeconds(2), Edge));
    }

    [Fact]
    public void APartialFromAGatewayBelow_IsFoldedWhole_ItsDevicesCountOnce_AndARevocationInItLeavesItOutUntilItsReplacementComes()
    {
        // A region tasked for dev-1..3: dev-1 reports to it directly, dev-2 and dev-3 through the site gateway below it.
        var region = Rounds();
        foreach (var device in new[] { "dev-1", "dev-2", "dev-3" }) region.Tasked(Task(device), Now);
        var fromSite = Assert.Single(SitePartials(revoked: null));
        var otherBase = new EdgePartial { Header = fromSite.Header, ModelName = "tiny", BaseVersion = 9, Share = fromSite.Share };
        Assert.Equal(RejectionReason.WrongBaseVersion, region.Merge(otherBase, Now).Reason);
        Assert.True(region.Merge(fromSite, Now).Accepted);
        Assert.Equal(RejectionReason.Duplicate, region.Merge(fromSite, Now).Reason); // a device counts once
        Assert.Equal(RejectionReason.Duplicate, region.Offer("dev-2", Update("dev-2", 5f), Now).Reason);
        Assert.True(region.Offer("dev-1", Update("dev-1", 0.1f), Now).Accepted);
        Assert.Equal(3, region.Unsent);

        // dev-3 revoked before the region sent: the site's share is left out whole, dev-2 may count again (the site sends
        // a replacement), and dev-1's update is folded again on its own.
        Assert.Contains("1 updates folded again", Assert.Single(region.Revoked(["dev-3"])), StringComparison.Ordinal);
        Assert.Equal(1, region.Unsent);
        Assert.Equal(RejectionReason.NotAuthorized, region.Merge(fromSite, Now).Reason); // the old share again: revoked inside
        var replacement = Assert.Single(SitePartials(revoked: "dev-3"));
        Assert.True(region.Merge(replacement, Now).Accepted);
        var sent = Assert.Single(region.TakeDue(Now + TimeSpan.FromSeconds(1), Edge));
        Assert.Equal(["dev-1", "dev-2"], sent.Share.Contributors.Select(c => c.DeviceId).Order());
        Assert.Equal(50.0, sent.Share.TotalWeight, 9); // 10 samples of dev-1, 40 of dev-2

        // Tasks and rounds the region does not know are refused whole.
        var unknown = new EdgePartial { Header = fromSite.Header, ModelName = "tiny", BaseVersion = 1, Share = new Shared.Protocol.V1.PartialAggregate(replacement.Share) { RoundId = "r9" } };
        Assert.Equal(RejectionReason.UnknownRound, region.Merge(unknown, Now).Reason);
    }

    /// <summary>A site gateway's due partials for dev-2 (40 samples) and dev-3, after <paramref name="revoked"/> was revoked there.</summary>
    private static IReadOnlyList<EdgePartial> SitePartials(string? revoked)
    {
        var site = Rounds();
        foreach (var device in new[] { "dev-2", "dev-3" }) site.Tasked(Task(device), Now);
        Assert.True(site.Offer("dev-2", Update("dev-2", 5f, samples: 40), Now).Accepted);
        Assert.True(site.Offer("dev-3", Update("dev-3", 0.3f), Now).Accepted);
        if (revoked is not null) site.Revoked([revoked]);
        return [.. site.TakeDue(Now + TimeSpan.FromSeconds(1), Edge).Select(p => { p.Header = ProtocolInfo.NewHeader("test", "site-a", 1, 0); return p; })];
    }

    /// <summary>The aggregator's round over dev-1..3 offered the partials in turn (checked as <see cref="EdgePartialCheck"/> does): who counted.</summary>
    private static string[] AtTheAggregator(HashSet<string> revoked, params EdgePartial[] partials)
    {
        var edge = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["dev-*"] } };
        var round = new EdgeMlOps.Shared.Aggregation.RoundAccumulator("r1", "tiny", 1, ParameterLayout.For(AggregatorFixture.Spec), ["dev-1", "dev-2", "dev-3"]);
        foreach (var partial in partials)
        {
            partial.Header = ProtocolInfo.NewHeader("test", "site-a", 1, 0);
            if (EdgePartialCheck.Check("site-a", partial, edge, revoked.Contains).Accepted) round.Merge(partial.Share);
        }

        return [.. round.Close().ContributorSamples.Keys.Order(StringComparer.Ordinal)];
    }

    [Fact]
    public void APartialTooLargeToKeep_IsDroppedWhole_WhenOneOfItsDevicesIsRevoked_AndTheRestOfTheRoundGoesOn()
    {
        var rounds = ThreeTasked(withDev2: true, revocableBytes: 1); // no update fits: nothing to fold again from
        Assert.Equal(0, rounds.KeptBytes);

        Assert.Contains("dropped the site's unsent partial with revoked dev-2 (2 other updates in it", Assert.Single(rounds.Revoked(["dev-2"])), StringComparison.Ordinal);
        Assert.Empty(rounds.TakeDue(Now + TimeSpan.FromSeconds(55), Edge));
        Assert.Equal(RejectionReason.Duplicate, rounds.Offer("dev-1", Update("dev-1", 0.1f), Now).Reason); // counted once, even lost
    }

    [Fact]
    public void ARevokedDeviceThatNeverReports_DoesNotHoldTheSitesPartialBackUntilTheDeadline()
    {
        var rounds = Rounds();
        rounds.Tasked(Task("dev-1"), Now);
        rounds.Tasked(Task("dev-2"), Now);
        Assert.True(rounds.Offer("dev-1", Update("dev-1", 0.1f), Now).Accepted);
        Assert.Empty(rounds.TakeDue(Now + TimeSpan.FromSeconds(1), Edge)); // dev-2 owes its update

        Assert.Empty(rounds.Revoked(["dev-2"])); // nothing of it folded
        var partial = Assert.Single(rounds.TakeDue(Now + TimeSpan.FromSeconds(1), Edge));
        Assert.Equal(["dev-1"], partial.Share.Contributors.Select(c => c.DeviceId));
    }

    [Fact]
    public void AStragglerAfterThePartialWasSent_GoesUpInAPartialOfItsOwn_BeforeTheDeadline_AndNoDeviceTwice()
    {
        var rounds = Rounds();
        rounds.Tasked(Task("dev-1"), Now);
        rounds.Tasked(Task("dev-2"), Now);
        Assert.True(rounds.Offer("dev-1", Update("dev-1", 0.1f), Now).Accepted);

        // Five seconds before the deadline, what the site has goes up without dev-2.
        var first = Assert.Single(rounds.TakeDue(Now + TimeSpan.FromSeconds(55), Edge));
        Assert.Equal(["dev-1"], first.Share.Contributors.Select(c => c.DeviceId));
        Assert.True(rounds.Offer("dev-2", Update("dev-2", 0.3f), Now + TimeSpan.FromSeconds(56)).Accepted);
        Assert.Equal(RejectionReason.Duplicate, rounds.Offer("dev-1", Update("dev-1", 0.1f), Now + TimeSpan.FromSeconds(56)).Reason);
        var second = Assert.Single(rounds.TakeDue(Now + TimeSpan.FromSeconds(56), Edge));
        Assert.Equal(["dev-2"], second.Share.Contributors.Select(c => c.DeviceId));
    }
}
