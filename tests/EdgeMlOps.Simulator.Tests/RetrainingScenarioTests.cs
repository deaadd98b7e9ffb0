using EdgeMlOps.Aggregator.Pipeline;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// The automated retraining loop with 60 real agents over MQTT: the inputs of 30% of the fleet shift and their accuracy
/// collapses; while an operator has the pipeline paused nothing starts; once resumed, the monitor's alert starts a run
/// by itself, which trains from the deployed version on fresh labels, passes every gate, waits for two different
/// approvers (the same person twice is refused), shadows, rolls out in stages — and the shifted region's accuracy comes
/// back while the stable region's does not suffer.
/// </summary>
[Collection(FleetCollection.Name)]
[Trait(Tiers.Name, Tiers.Experiment)]
public class RetrainingScenarioTests
{
    [Fact]
    public async Task DriftOnPartOfTheFleet_IsRetrainedGatedApprovedShadowedAndRolledOut_AndAccuracyComesBack()
    {
        var options = SimulationOptions.Parse(["--scenario", "retraining", "--dataset", "synthetic", "--devices", "60", "--rounds", "3", "--fraction", "0.5", "--seed", "1", "--quiet", "--out", "-"]);
        var result = await new RetrainingScenario(options).RunAsync(offset: 6, windowSeconds: 4, windowsBefore: 3, windowsAfter: 3, CancellationToken.None, pausedWindows: 2);
        var run = result.Run;

        Assert.False(result.StartedWhilePaused);
        Assert.Equal(PipelineStage.Completed, run.Stage);
        Assert.Contains(run.Trigger.Kind, new[] { "drift", "accuracy" });
        var resumed = Assert.Single(result.Timeline, e => e.Event == "resume").Seconds;
        Assert.True(result.Timeline.Single(e => e.Event == "start").Seconds >= resumed, "the run started while the pipeline was paused");

        // The steps, in order: fresh labels, the base measured on devices, six rounds, every gate, two approvers, the rollout.
        var steps = run.Steps.Select(s => s.Step).ToArray();
        Assert.Equal(["start", "labels", "evaluate-base", "round", "round", "round", "round", "round", "round", "trained", "gates", "validated", "approve", "approve", "rollout", "complete"], steps);
        Assert.Equal(["registry", "held-out", "federated", "explainability", "subgroups", "latency", "data-quality"], run.Gates.Select(g => g.Gate));
        Assert.All(run.Gates, g => Assert.True(g.Passed, $"{g.Gate}: {g.Detail}"));
        Assert.Equal(["ops-alice", "ops-carol"], run.Approvals);
        Assert.Contains("already approved", result.SecondApprovalByFirstApprover, StringComparison.Ordinal);
        Assert.Equal(run.Candidate, result.DeployedAfter);
        Assert.True(result.DeployedAfter > result.DeployedBefore);
        Assert.True(result.AuditIntact);

        // Accuracy, per region, from the devices' ground truth: collapsed after the drift, back after the rollout.
        var before = result.Accuracy.Where(a => a.Seconds < 0 && a.ShiftedLabels >= 200).ToArray();
        // Devices send a profile every window, not aligned with the aggregator's: windows ending within two of the drift may still hold older requests.
        var drifted = result.Accuracy.Where(a => a.Seconds > 8 && a.Version == result.DeployedBefore && a.ShiftedLabels >= 200).ToArray();
        var after = result.Accuracy.Where(a => a.Version == result.DeployedAfter && a.ShiftedLabels >= 200).ToArray();
        Assert.NotEmpty(before);
        Assert.NotEmpty(drifted);
        Assert.True(after.Length >= 2, "fewer than two windows on the retrained version");
        var baseline = before.Average(a => a.Shifted);
        Assert.True(drifted.Max(a => a.Shifted) < baseline - 0.2, $"the drift did not hurt: {drifted.Max(a => a.Shifted):F3} vs {baseline:F3}");
        Assert.True(after.Average(a => a.Shifted) > baseline - 0.08, $"accuracy in the shifted region did not come back: {after.Average(a => a.Shifted):F3} vs {baseline:F3} before the drift");
        Assert.True(after.Average(a => a.Stable) > before.Average(a => a.Stable) - 0.03, "the stable region paid for the retraining");
    }
}
