using EdgeMlOps.Shared.Privacy;
using EdgeMlOps.Aggregator.Rounds;

namespace EdgeMlOps.Aggregator.Tests.Rounds;

/// <summary>Over-selection sized from observed turnout: the estimate, who counts as reporting, and the selection it implies.</summary>
public sealed class RoundTurnoutTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 3, 0, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(15, 20, 0.6, 0.1255989727230374)] // scipy.stats.binom.sf(14, 20, 0.6)
    [InlineData(1, 1, 0.5, 0.5)]
    [InlineData(0, 10, 0.3, 1.0)]
    [InlineData(11, 10, 0.9, 0.0)]
    [InlineData(50_000, 100_000, 0.5, 0.5012615)] // symmetric around the mean, plus P(X = n/2) / 2
    public void AtLeast_IsTheBinomialTail(int k, int n, double p, double expected) =>
        Assert.Equal(expected, SpecialFunctions.BinomialAtLeast(k, n, p), 6);

    [Fact]
    public void TheEstimate_StartsAtThePrior_AndFollowsWhoReportedByTheDeadline()
    {
        var turnout = new RoundTurnout(priorCompletion: 1 / 1.3);
        Assert.Equal(1 / 1.3, turnout.Completion, 9);

        var selected = Enumerable.Range(0, 20).Select(i => $"d{i}").ToArray();
        turnout.Begin("r1", selected, Start.AddSeconds(60));
        for (var i = 0; i < 10; i++) turnout.Reported("r1", $"d{i}", Start.AddSeconds(10)); // accepted
        turnout.Reported("r1", "d10", Start.AddSeconds(50)); // late for a round that had closed: still reported in time
        turnout.Reported("r1", "d11", Start.AddSeconds(50));
        turnout.Reported("r1", "d11", Start.AddSeconds(51)); // twice is once
        turnout.Reported("r1", "d12", Start.AddSeconds(61)); // after the deadline: a dropout
        turnout.Reported("r1", "stranger", Start.AddSeconds(5)); // never selected
        turnout.Reported("r0", "d13", Start.AddSeconds(5)); // another round
        Assert.Equal(1 / 1.3, turnout.Completion, 9); // the round is final only when settled (before the next is planned)

        turnout.Settle();
        turnout.Reported("r1", "d13", Start.AddSeconds(30)); // after settling: too late to count
        Assert.Equal((12 + 20 / 1.3) / 40, turnout.Completion, 9);
        turnout.Settle();
        turnout.Begin("r2", selected, Start.AddSeconds(120)); // settling twice, or beginning after it, folds nothing again
        Assert.Equal((12 + 20 / 1.3) / 40, turnout.Completion, 9);
        Assert.Equal(1, turnout.RoundsObserved);
    }

    [Fact]
    public void AWithdrawnDevice_IsNotWaitedFor_AndIsNotADropout()
    {
        var turnout = new RoundTurnout(priorCompletion: 0.5, priorWeight: 0);
        Assert.Equal(0, turnout.Outstanding); // no round open
        Assert.False(turnout.Withdraw("d0"));

        turnout.Begin("r1", ["d0", "d1", "d2", "d3"], Start.AddSeconds(60));
        Assert.Equal(4, turnout.Outstanding);
        turnout.Reported("r1", "d0", Start.AddSeconds(1));
        Assert.False(turnout.Withdraw("d0")); // it already reported: its update stands
        Assert.False(turnout.Withdraw("stranger")); // never selected
        Assert.True(turnout.Withdraw("d1")); // revoked mid-round
        Assert.False(turnout.Withdraw("d1")); // twice is once
        turnout.Reported("r1", "d1", Start.AddSeconds(2)); // nothing of a withdrawn device counts afterwards
        Assert.Equal(2, turnout.Outstanding); // d2 and d3 are still owed
        Assert.Equal(1, turnout.OutstandingBesides(new HashSet<string> { "d2", "d1" })); // with replicas: d2 reported at another; d1 is withdrawn either way
        turnout.Reported("r1", "d2", Start.AddSeconds(3));
        turnout.Reported("r1", "d3", Start.AddSeconds(4));
        Assert.Equal(0, turnout.Outstanding); // nobody left to wait for

        turnout.Settle(); // 3 of the 3 that could report: d1 is not a dropout
        Assert.Equal(1.0, turnout.Completion, 9);
        turnout.Begin("r2", ["d0", "d2"], Start.AddSeconds(120));
        Assert.Equal(2, turnout.Outstanding); // a new round waits for everyone it selected again
    }

    [Fact]
    public void OlderRounds_WeighLess_SoAChangedFleetIsFollowed()
    {
        var turnout = new RoundTurnout(priorCompletion: 0.9, priorWeight: 0, memory: 0.5);
        var selected = Enumerable.Range(0, 10).Select(i => $"d{i}").ToArray();
        turnout.Begin("r1", selected, Start.AddSeconds(60));
        foreach (var id in selected) turnout.Reported("r1", id, Start); // 10 of 10
        turnout.Begin("r2", selected, Start.AddSeconds(60));
        for (var i = 0; i < 2; i++) turnout.Reported("r2", selected[i], Start); // 2 of 10
        turnout.Begin("r3", selected, Start.AddSeconds(60));
        Assert.Equal((10 * 0.5 + 2) / (10 * 0.5 + 10), turnout.Completion, 9);
    }

    [Fact]
    public void TheSelection_IsTheFewestDevicesThatReachTheTargetWithTheConfidence_WithinItsBounds()
    {
        var turnout = new RoundTurnout(priorCompletion: 1 / 1.3);
        var selected = Enumerable.Range(0, 20).Select(i => $"d{i}").ToArray();
        turnout.Begin("r1", selected, Start.AddSeconds(60));
        for (var i = 0; i < 12; i++) turnout.Reported("r1", $"d{i}", Start);
        turnout.Begin("r2", [], Start.AddSeconds(120));

        // p = 0.6846: P(Binomial(27, p) >= 15) < 0.95 <= P(Binomial(28, p) >= 15) (checked in Python).
        Assert.Equal(28, turnout.SelectCount(target: 15, eligible: 1000, confidence: 0.95, maxFactor: 3));
        Assert.True(SpecialFunctions.BinomialAtLeast(15, 27, turnout.Completion) < 0.95);
        Assert.Equal(25, turnout.SelectCount(15, eligible: 25, 0.95, 3)); // no more than are eligible
        Assert.Equal(20, turnout.SelectCount(15, 1000, 0.95, maxFactor: 1.3)); // no more than the cap
        Assert.Equal(10, turnout.SelectCount(15, eligible: 10, 0.95, 3)); // fewer eligible than the target: all of them

        var plan = RoundPlan.For(new RoundOptions { ClientsPerRound = 15, AdaptiveOverSelection = true }, 1000, turnout);
        Assert.Equal((15, 28), (plan.Target, plan.SelectCount));
        Assert.Equal(20, RoundPlan.For(new RoundOptions { ClientsPerRound = 15 }, 1000, turnout).SelectCount); // fixed 1.3 when off
    }
}
