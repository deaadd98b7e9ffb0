namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// Two features shift by 1σ on 30% of 100 real agents from window 5 of 16 (100 predictions per device and window): the aggregator flags exactly those
/// features in that region in the first shifted window and every one after, never in the stable region, and
/// the fleet's ground-truth accuracy from confusion counts matches the exact accuracy of what was served.
/// A cohort's window holds 3,000 values (1,500 sketch items after the devices' level-1 policy): at that size the normed
/// Wasserstein distance of an unshifted feature reaches Evidently's 0.1 in about 0.2–5% of (feature, 16-window run)
/// cases, depending on the traffic set and reference sizes (bench/DriftNoise, docs/BENCHMARKS.md) — CI saw it twice.
/// The scenario therefore draws from a 20,000-row held-out set, takes its reference from 50 devices' training
/// (10,000 values) and flags at 0.15, above every null score measured; a 1σ shift scores about 1.
/// </summary>
[Collection(FleetCollection.Name)]
[Trait(Tiers.Name, Tiers.Experiment)]
public class DriftScenarioTests
{
    [Fact]
    public async Task ShiftedFeatures_AreFlaggedInTheirRegionWithinOneWindow_AndTheStableRegionRaisesNoAlarm()
    {
        var options = SimulationOptions.Parse(["--scenario", "drift", "--dataset", "synthetic", "--devices", "100", "--rounds", "2", "--fraction", "0.5", "--test-size", "20000", "--seed", "1", "--quiet", "--out", "-"]);
        var result = await new DriftScenario(options).RunAsync(windows: 16, shiftFrom: 5, shift: 1.0, predictionsPerWindow: 100, CancellationToken.None, windowSeconds: 9, distanceThreshold: 0.15);

        // The devices' clocks stand still while a window's traffic is served, so every window holds every device's profile.
        Assert.All(result.Windows, w => Assert.True(w.Complete, $"window {w.Index} is missing device profiles"));
        var complete = result.Windows;
        Assert.All(result.Windows, w => Assert.Empty(w.DriftedInStableCohort));
        Assert.Equal(0, result.StableFalseAlarmRate);
        Assert.Equal(0, result.StablePredictionAlarms); // the stable region's predicted classes stay as in the version's first window
        foreach (var w in complete)
        {
            if (w.Shifted) Assert.Equal(result.ShiftedFeatures, w.DriftedInShiftedCohort);
            else Assert.Empty(w.DriftedInShiftedCohort);
            Assert.True(Math.Abs(w.FleetAccuracy - w.ExactAccuracy) <= 0.005, $"window {w.Index}: {w.FleetAccuracy} vs exact {w.ExactAccuracy}");
            Assert.Equal(100 * 100, w.Outcomes);
        }

        // Within one reporting window: the first shifted window already flags them.
        Assert.Equal(result.ShiftedFeatures, result.Windows[5].DriftedInShiftedCohort);
    }
}
