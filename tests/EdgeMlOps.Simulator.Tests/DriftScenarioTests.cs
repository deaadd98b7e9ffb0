namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// Two features shift by 1σ on 30% of 100 real agents from window 5 of 20: the aggregator flags exactly those
/// features in that region in the first shifted window and every one after, never in the stable region, and
/// the fleet's ground-truth accuracy from confusion counts matches the exact accuracy of what was served.
/// </summary>
[Collection(FleetCollection.Name)]
public class DriftScenarioTests
{
    [Fact]
    public async Task ShiftedFeatures_AreFlaggedInTheirRegionWithinOneWindow_AndTheStableRegionRaisesNoAlarm()
    {
        var options = SimulationOptions.Parse(["--scenario", "drift", "--dataset", "synthetic", "--devices", "100", "--rounds", "2", "--fraction", "0.2", "--seed", "1", "--quiet", "--out", "-"]);
        var result = await new DriftScenario(options).RunAsync(windows: 20, shiftFrom: 5, shift: 1.0, predictionsPerWindow: 200, CancellationToken.None, windowSeconds: 9);

        var complete = result.Windows.Where(w => w.Complete).ToArray();
        Assert.True(complete.Length >= 15, $"only {complete.Length} of 20 windows had every device's profile in them");
        Assert.All(result.Windows, w => Assert.Empty(w.DriftedInStableCohort));
        Assert.Equal(0, result.StableFalseAlarmRate);
        foreach (var w in complete)
        {
            if (w.Shifted) Assert.Equal(result.ShiftedFeatures, w.DriftedInShiftedCohort);
            else Assert.Empty(w.DriftedInShiftedCohort);
            Assert.True(Math.Abs(w.FleetAccuracy - w.ExactAccuracy) <= 0.005, $"window {w.Index}: {w.FleetAccuracy} vs exact {w.ExactAccuracy}");
            Assert.Equal(100 * 200, w.Outcomes);
        }

        // Within one reporting window: the first shifted window already flags them (when it was complete).
        var first = result.Windows[5];
        Assert.True(!first.Complete || first.DriftedInShiftedCohort.SequenceEqual(result.ShiftedFeatures));
    }
}
