using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Privacy;

namespace EdgeMlOps.Aggregator.Tests.Rollouts;

/// <summary>The rollout accuracy gate decides only when the ground truth allows it.</summary>
public class AccuracyComparisonTests
{
    [Theory]
    [InlineData(0.5, 0.0)]
    [InlineData(0.95, 1.6448536269514722)]
    [InlineData(0.975, 1.959963984540054)]
    [InlineData(0.999, 3.090232306167813)]
    [InlineData(0.025, -1.959963984540054)]
    public void NormalQuantile_MatchesTables(double p, double z) => Assert.Equal(z, SpecialFunctions.NormalQuantile(p), 9);

    [Fact]
    public void FourteenPointsWorse_WaitsAtFiftyLabels_AbortsAtAHundred()
    {
        // The rollout scenario's blind version: 34% right on the target against 47.6% on 10,000 labels of the replaced one.
        var early = AccuracyComparison.Judge(17, 50, 4756, 10_000, 0.05, 0.95);
        var later = AccuracyComparison.Judge(34, 100, 4756, 10_000, 0.05, 0.95);

        Assert.Equal(AccuracyVerdict.Inconclusive, early.Verdict);
        Assert.Equal(AccuracyVerdict.Fail, later.Verdict);
        Assert.True(later.Upper < -0.05 && later.Lower < later.Difference && later.Difference < later.Upper);
    }

    [Fact]
    public void ALuckyFiftyLabels_DoNotPassAWorseVersion()
    {
        // 22 of 50 right (44%) by chance, against 47.6%: the point estimates are within the 0.05 drop, the evidence is not.
        var (verdict, difference, lower, _) = AccuracyComparison.Judge(22, 50, 4756, 10_000, 0.05, 0.95);

        Assert.True(difference > -0.05, $"point estimate {difference}");
        Assert.True(lower < -0.05, $"lower end {lower}");
        Assert.Equal(AccuracyVerdict.Inconclusive, verdict);
    }

    [Fact]
    public void AnEqualVersion_PassesOnceTheIntervalIsNarrowerThanTheDrop()
    {
        Assert.Equal(AccuracyVerdict.Inconclusive, AccuracyComparison.Judge(50, 100, 5000, 10_000, 0.05, 0.95).Verdict);
        Assert.Equal(AccuracyVerdict.Pass, AccuracyComparison.Judge(200, 400, 5000, 10_000, 0.05, 0.95).Verdict);
        Assert.Equal(AccuracyVerdict.Pass, AccuracyComparison.Judge(90, 100, 500, 1000, 0.05, 0.95).Verdict); // clearly better
    }

    [Fact]
    public void HigherConfidence_NeedsMoreEvidence()
    {
        Assert.Equal(AccuracyVerdict.Pass, AccuracyComparison.Judge(200, 400, 5000, 10_000, 0.05, 0.95).Verdict);
        Assert.Equal(AccuracyVerdict.Inconclusive, AccuracyComparison.Judge(200, 400, 5000, 10_000, 0.05, 0.999).Verdict);
    }

    [Fact]
    public void NoLabelsAtAll_IsInconclusive_AndImpossibleCountsAreRefused()
    {
        Assert.Equal(AccuracyVerdict.Inconclusive, AccuracyComparison.Judge(0, 0, 0, 0, 0.05, 0.95).Verdict);
        Assert.Throws<ArgumentOutOfRangeException>(() => AccuracyComparison.Judge(5, 4, 1, 1, 0.05, 0.95));
        Assert.Throws<ArgumentOutOfRangeException>(() => AccuracyComparison.Judge(-1, 4, 1, 1, 0.05, 0.95));
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(0.3)]
    [InlineData(double.NaN)]
    public void GatesWithAnImpossibleConfidence_AreRefused(double confidence)
    {
        new RolloutGates().Validate();
        var ex = Assert.Throws<ArgumentException>(() => new RolloutGates { AccuracyConfidence = confidence }.Validate());
        Assert.Contains("accuracy confidence", ex.Message, StringComparison.Ordinal);
    }
}
