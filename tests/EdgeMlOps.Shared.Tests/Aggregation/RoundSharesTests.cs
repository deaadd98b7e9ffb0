using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Tensors;
using Google.Protobuf;

namespace EdgeMlOps.Shared.Tests.Aggregation;

/// <summary>A round's updates split over processes (aggregator replicas) and merged as shares give the one-process result.</summary>
public class RoundSharesTests
{
    private static readonly ParameterLayout Layout = ParameterLayout.For(ModelSpecText.Parse("mlp-3-4-2"));
    private static readonly string[] Devices = Enumerable.Range(0, 12).Select(i => $"d{i}").ToArray();

    private static ModelUpdate Update(int seed)
    {
        var random = new Random(seed);
        var update = new ModelUpdate
        {
            Header = ProtocolInfo.NewHeader("f", $"d{seed}", 1, 0), RoundId = "r", ModelName = "m", BaseVersion = 3,
            SampleCount = (ulong)random.Next(1, 500), Metrics = new LocalMetrics { Loss = random.NextDouble(), Accuracy = random.NextDouble() },
        };
        update.Delta.AddRange(TensorCodec.Encode(Layout, Enumerable.Range(0, Layout.TotalLength).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray()));
        return update;
    }

    private static RoundAccumulator Round(FederatedStrategy strategy) => new("r", "m", 3, Layout, Devices, strategy, new RoundContext(1, 12, 12, 12, 1));

    /// <summary>Devices 0..11 split round-robin over <paramref name="processes"/> accumulators; the first merges the others' shares (through their bytes).</summary>
    private static RoundAggregate Split(FederatedStrategy strategy, int processes)
    {
        var rounds = Enumerable.Range(0, processes).Select(_ => Round(strategy)).ToArray();
        for (var i = 0; i < Devices.Length; i++) Assert.True(rounds[i % processes].Offer(Devices[i], Update(i)).Accepted);
        foreach (var replica in rounds.Skip(1))
        {
            var share = PartialAggregate.Parser.ParseFrom(replica.Share("b").ToByteArray());
            Assert.True(rounds[0].Merge(share).Accepted);
        }

        return rounds[0].Close();
    }

    [Fact]
    public void ExactSums_SplitOverThreeProcesses_GiveTheOneProcessModel_BitForBit()
    {
        var strategy = StandardStrategy.Create(new StrategyOptions { ExactSum = true });
        var one = Split(strategy, 1);
        var three = Split(strategy, 3);

        Assert.Equal(one.MeanDelta, three.MeanDelta); // every bit
        Assert.Equal(12, three.Contributors);
        Assert.Equal(one.Samples, three.Samples);
        Assert.Equal(one.MeanLocalLoss, three.MeanLocalLoss, 12);
        Assert.Equal(one.ContributorSamples.OrderBy(p => p.Key), three.ContributorSamples.OrderBy(p => p.Key));
    }

    [Fact]
    public void Fp64Sums_SplitOverTwoProcesses_AgreeWithinTheSumOrdersRounding()
    {
        var strategy = StandardStrategy.Create(new StrategyOptions());
        var one = Split(strategy, 1);
        var two = Split(strategy, 2);
        for (var i = 0; i < one.MeanDelta.Length; i++) Assert.Equal(one.MeanDelta[i], two.MeanDelta[i], 1e-6f);
    }

    [Fact]
    public void AShareNamingADeviceAlreadyCounted_IsRefusedWhole_AndChangesNothing()
    {
        var strategy = StandardStrategy.Create(new StrategyOptions { ExactSum = true });
        var coordinator = Round(strategy);
        var replica = Round(strategy);
        Assert.True(coordinator.Offer("d0", Update(0)).Accepted);
        Assert.True(replica.Offer("d0", Update(1)).Accepted); // the same device through another replica (no shared claim here)
        Assert.True(replica.Offer("d1", Update(2)).Accepted);

        var merged = coordinator.Merge(replica.Share("b"));
        Assert.False(merged.Accepted);
        Assert.Equal(RejectionReason.Duplicate, merged.Reason);
        var alone = Round(strategy);
        Assert.True(alone.Offer("d0", Update(0)).Accepted);
        Assert.Equal(alone.Close().MeanDelta, coordinator.Close().MeanDelta);
    }

    [Fact]
    public void AClaimRefusedByTheSharedStore_RefusesTheUpdateAsADuplicate()
    {
        var claimed = new HashSet<string>(["d2"]);
        var round = new RoundAccumulator("r", "m", 3, Layout, Devices, StandardStrategy.Create(new StrategyOptions()), null) { Claim = d => claimed.Add(d) ? ClaimOutcome.Claimed : ClaimOutcome.ClaimedElsewhere };
        Assert.Equal(RejectionReason.Duplicate, round.Offer("d2", Update(2)).Reason);
        Assert.True(round.Offer("d3", Update(3)).Accepted);
        Assert.Equal(1, round.AcceptedCount);
    }

    [Fact]
    public void AnUpdateForARoundTheSharedStoreHasClosed_IsRefusedAsRoundClosed_NotAsADuplicate()
    {
        // The coordinator closed the round in the store; its own in-memory round still takes offers for an instant.
        var round = new RoundAccumulator("r", "m", 3, Layout, Devices, StandardStrategy.Create(new StrategyOptions()), null) { Claim = _ => ClaimOutcome.RoundClosed };
        var late = round.Offer("d4", Update(4));
        Assert.Equal(RejectionReason.RoundClosed, late.Reason);
        Assert.Contains("closed", late.Detail, StringComparison.Ordinal);
        Assert.Equal(0, round.AcceptedCount);
    }

    [Fact]
    public void RulesThatNeedEveryUpdate_CannotTakeShares_AndBrokenSharesAreRefused()
    {
        var median = Round(StandardStrategy.Create(new StrategyOptions { Name = "fedmedian" }));
        Assert.False(median.CanShare);
        Assert.False(median.Merge(new PartialAggregate { RoundId = "r" }).Accepted);

        var mean = Round(StandardStrategy.Create(new StrategyOptions()));
        Assert.True(mean.CanShare);
        var wrongLength = new PartialAggregate { RoundId = "r", Count = 1, TotalWeight = 1, Sum = { 1.0, 2.0 }, Contributors = { new PartialContributor { DeviceId = "d5", Samples = 1 } } };
        Assert.Equal(RejectionReason.Malformed, mean.Merge(wrongLength).Reason);
        Assert.Equal(RejectionReason.UnknownRound, mean.Merge(new PartialAggregate { RoundId = "other" }).Reason);
        var stranger = new PartialAggregate { RoundId = "r", Count = 1, Contributors = { new PartialContributor { DeviceId = "x", Samples = 1 } } };
        Assert.Equal(RejectionReason.Duplicate, mean.Merge(stranger).Reason);
        Assert.Equal(0, mean.AcceptedCount);
    }

    /// <summary>A share claims the weight its devices' samples have in the round, no more and no less (a gateway or replica cannot reweigh them).</summary>
    [Theory]
    [InlineData(false, 0.01)]
    [InlineData(false, 100)]
    [InlineData(true, 0.01)]
    [InlineData(true, 100)]
    public void AShareWeighingOtherThanItsDevicesSamples_IsRefused(bool exact, double factor)
    {
        var strategy = StandardStrategy.Create(new StrategyOptions { ExactSum = exact });
        var (coordinator, share) = CoordinatorAndShare(strategy);
        if (exact) share.ExactWeight = ByteString.CopyFrom(Int128Bytes.Write([(Int128)(StreamingWeightedSum.FromFixed(Int128Bytes.Read(share.ExactWeight.Span, 0)) * factor * 18446744073709551616.0)]));
        else share.TotalWeight *= factor;

        var merged = coordinator.Merge(share);
        Assert.Equal(RejectionReason.Malformed, merged.Reason);
        Assert.Contains("where its devices' samples weigh", merged.Detail, StringComparison.Ordinal);
        Assert.Equal(1, coordinator.AcceptedCount);
    }

    /// <summary>
    /// Within <c>Strategy:MaxUpdateNorm</c>, a share's sum is no longer than its devices' updates could add up to — the
    /// weight times the bound —, so it moves the model no further than they could have themselves.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AShareLongerThanItsDevicesUpdatesAddUpTo_IsRefused_AnHonestOneIsTaken(bool exact)
    {
        var strategy = StandardStrategy.Create(new StrategyOptions { ExactSum = exact, MaxUpdateNorm = 2 });
        var (coordinator, share) = CoordinatorAndShare(strategy);
        Assert.True(coordinator.Merge(share.Clone()).Accepted, "the honest share");

        (coordinator, share) = CoordinatorAndShare(strategy);
        if (exact) share.ExactSum = ByteString.CopyFrom(Int128Bytes.Write([.. Enumerable.Range(0, Layout.TotalLength).Select(i => Int128Bytes.Read(share.ExactSum.Span, i) * 10)]));
        else for (var i = 0; i < share.Sum.Count; i++) share.Sum[i] *= 10;
        var merged = coordinator.Merge(share);
        Assert.Equal(RejectionReason.NormTooLarge, merged.Reason);
        Assert.Contains("its devices' weight allows at Strategy:MaxUpdateNorm 2", merged.Detail, StringComparison.Ordinal);
    }

    /// <summary>The devices' own loss and accuracy in a share: weighted sums over no more than its weight, of what one device may state.</summary>
    [Fact]
    public void AShareWhoseLossNoDeviceCouldHaveSent_IsRefused()
    {
        var strategy = StandardStrategy.Create(new StrategyOptions());
        var (coordinator, share) = CoordinatorAndShare(strategy);
        share.MetricWeight = 1e-300; // a loss sum of about 1 over this weight: a mean loss of 1e300
        Refused(coordinator.Merge(share));

        (coordinator, share) = CoordinatorAndShare(strategy);
        share.MetricWeight = share.TotalWeight * 2;
        Refused(coordinator.Merge(share));

        static void Refused(UpdateOutcome merged)
        {
            Assert.False(merged.Accepted);
            Assert.Equal(RejectionReason.Malformed, merged.Reason);
            Assert.Contains("summed over a weight of", merged.Detail, StringComparison.Ordinal);
        }
    }

    /// <summary>A device's own loss beyond any real loss is left out of the round's mean, as a NaN is: the mean stays finite.</summary>
    [Fact]
    public void ADevicesLossBeyondAnyLoss_IsLeftOutOfTheRoundsMean()
    {
        var round = Round(StandardStrategy.Create(new StrategyOptions()));
        var huge = Update(0);
        huge.Metrics.Loss = 1e308;
        Assert.True(round.Offer("d0", huge).Accepted);
        Assert.True(round.Offer("d1", Update(1)).Accepted);

        var closed = round.Close();
        Assert.Equal(Update(1).Metrics.Loss, closed.MeanLocalLoss, 12);
    }

    /// <summary>A coordinator that took d0's update, and a replica's share of d1..d3.</summary>
    private static (RoundAccumulator Coordinator, PartialAggregate Share) CoordinatorAndShare(FederatedStrategy strategy)
    {
        var coordinator = Round(strategy);
        var replica = Round(strategy);
        Assert.True(coordinator.Offer("d0", Update(0)).Accepted);
        for (var i = 1; i <= 3; i++) Assert.True(replica.Offer($"d{i}", Update(i)).Accepted);
        return (coordinator, PartialAggregate.Parser.ParseFrom(replica.Share("b").ToByteArray()));
    }

    /// <summary>
    /// Exact sums are 128-bit fixed point: an update whose values times its weight pass what they hold (2^43 each, room
    /// for a million contributions) is refused, not wrapped into a mean of the wrong sign — by a round and by a buffer.
    /// </summary>
    [Fact]
    public void AnUpdateBeyondWhatExactSumsHold_IsRefused_NotWrapped()
    {
        var strategy = StandardStrategy.Create(new StrategyOptions { ExactSum = true });
        var huge = Update(0);
        huge.Delta.Clear();
        huge.Delta.AddRange(TensorCodec.Encode(Layout, Enumerable.Repeat(1e18f, Layout.TotalLength).ToArray()));

        var round = Round(strategy);
        var outcome = round.Offer("d0", huge);
        Assert.Equal((false, RejectionReason.NormTooLarge), (outcome.Accepted, outcome.Reason));
        Assert.Contains("exact sums hold", outcome.Detail, StringComparison.Ordinal);
        Assert.True(round.Offer("d1", Update(1)).Accepted);
        var alone = Round(strategy);
        Assert.True(alone.Offer("d1", Update(1)).Accepted);
        Assert.Equal(alone.Close().MeanDelta, round.Close().MeanDelta);

        var buffer = new AsyncUpdateBuffer("m", Layout, strategy, bufferSize: 2, stalenessCap: 4, new RoundContext(1, 12, 12, 12, 1));
        buffer.Issue("t0", "d0", 3);
        huge.RoundId = "t0";
        Assert.Equal(RejectionReason.NormTooLarge, buffer.Offer("d0", huge).Reason);
    }
}
