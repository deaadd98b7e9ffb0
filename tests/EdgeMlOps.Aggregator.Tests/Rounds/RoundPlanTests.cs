using EdgeMlOps.Aggregator.Rounds;

namespace EdgeMlOps.Aggregator.Tests.Rounds;

/// <summary>Round sizing on its own: target, quorum and over-selection from the options and the eligible count.</summary>
public class RoundPlanTests
{
    [Theory]
    [InlineData(100, 0.1, 0, 1.3, 0.5, 10, 5, 13)]  // McMahan's C = 0.1, over-selected by 30 %
    [InlineData(3, 0.1, 0, 1.3, 0.5, 1, 1, 2)]      // at least one report
    [InlineData(50, 0.1, 8, 1.5, 0.75, 8, 6, 12)]   // a fixed number per round wins over the fraction
    [InlineData(5, 0.1, 8, 1.5, 0.75, 5, 4, 5)]     // never more than are eligible
    [InlineData(0, 0.5, 0, 1.3, 0.5, 1, 1, 0)]
    public void For_SizesTheRound(int eligible, double fraction, int perRound, double overSelection, double quorum, int target, int expectedQuorum, int select)
    {
        var plan = RoundPlan.For(new RoundOptions { Fraction = fraction, ClientsPerRound = perRound, OverSelection = overSelection, MinQuorum = quorum }, eligible);
        Assert.Equal(new RoundPlan(target, expectedQuorum, select), plan);
    }

    [Fact]
    public void Shortfall_NamesHowManyDevicesAreNeeded()
    {
        var rounds = new RoundOptions { Fraction = 1, MinDevices = 3, MinQuorum = 1 };
        Assert.Equal(3, RoundPlan.For(rounds, 2).Shortfall(rounds, 2));
        Assert.Null(RoundPlan.For(rounds, 3).Shortfall(rounds, 3));
        var strict = new RoundOptions { ClientsPerRound = 10, MinDevices = 1, MinQuorum = 1 };
        Assert.Null(RoundPlan.For(strict, 4).Shortfall(strict, 4)); // the target shrinks to the 4 eligible, and so does the quorum
    }
}
