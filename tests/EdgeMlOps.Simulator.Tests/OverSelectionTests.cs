namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// Pace steering's over-selection sized from observed dropout, on real agents over MQTT: 40% of selected devices drop
/// out of every round. A fixed 1.3× selection (20 devices for a target of 15) expects 12 reports, so nearly every round
/// waits for its deadline and closes short; sized from the turnout of earlier rounds, the selection grows to what
/// reaches the target with 95% probability and the rounds after the first close on their target, long before the deadline.
/// </summary>
[Collection(FleetCollection.Name)]
public class OverSelectionTests
{
    private static Task<SimulationResult> RunAsync(params string[] extra) =>
        new SimulationRunner(SimulationOptions.Parse(new[] { "--dataset", "synthetic", "--devices", "60", "--rounds", "6", "--fraction", "0.25",
            "--over-selection", "1.3", "--dropout", "0.4", "--min-quorum", "0.5", "--deadline", "6", "--hidden", "8", "--local-epochs", "1", "--seed", "3", "--out", "-" }
            .Concat(extra).ToArray())).RunAsync(CancellationToken.None);

    [Fact]
    public async Task WithFortyPercentDropout_SelectionSizedFromTurnout_ReachesTheTarget_AFixedFactorDoesNot()
    {
        var fixedFactor = await RunAsync();
        var adaptive = await RunAsync("--adaptive-over-selection");
        const int target = 15;

        Assert.All(fixedFactor.Rounds, r => Assert.Equal(20, r.Selected));
        Assert.True(fixedFactor.Rounds.Count(r => r.Participants >= target) <= 2, $"fixed 1.3x reached the target in {fixedFactor.Rounds.Count(r => r.Participants >= target)} of 6 rounds");

        // The prior is the fixed factor's completion (1/1.3): reaching 15 with 95% then takes 24, not 20.
        Assert.Equal(24, adaptive.Rounds[0].Selected);
        var later = adaptive.Rounds.Skip(1).ToArray();
        Assert.All(later, r => Assert.InRange(r.Selected, 25, 45)); // more once 40% dropout is seen; 3x the target at most
        // At the true 60% turnout the selection reaches the target with ~80–95% (the prior, worth 20 selections, fades).
        Assert.True(later.Count(r => r.Participants >= target) >= 3, $"sized from turnout, {later.Count(r => r.Participants >= target)} of 5 later rounds reached the target (selected {string.Join(", ", later.Select(r => r.Selected))})");
        Console.WriteLine($"fixed: {string.Join(", ", fixedFactor.Rounds.Select(r => $"{r.Participants}/{r.Selected} {r.Seconds:F1}s"))}; adaptive: {string.Join(", ", adaptive.Rounds.Select(r => $"{r.Participants}/{r.Selected} {r.Seconds:F1}s"))}");
        Assert.True(later.Sum(r => r.Seconds) < fixedFactor.Rounds.Skip(1).Sum(r => r.Seconds) / 2,
            $"later rounds took {later.Sum(r => r.Seconds):F1} s sized from turnout against {fixedFactor.Rounds.Skip(1).Sum(r => r.Seconds):F1} s at 1.3x");
    }
}
