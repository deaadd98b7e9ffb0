using EdgeMlOps.Aggregator.Experiments;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Rollouts;

/// <summary>A rollout's A/B test at the aggregator: both arms reported over MQTT, the test read by the gate, the rollout promoted or stopped.</summary>
public sealed class ExperimentRolloutTests : GovernedFleet
{
    private static RolloutRequest Request(ExperimentMode mode, bool shadowFirst = false) => new()
    {
        Version = 1,
        Stages = [0.5, 1.0],
        Reason = "A/B first",
        Shadow = shadowFirst ? new ShadowRequest { Share = 1.0, MinScored = 10, RequireLabels = false } : null,
        Experiment = new ExperimentRequest { Share = 1.0, Split = 0.5, Design = new ExperimentDesign { Mode = mode, BaselineRate = 0.8, MinDetectableEffect = 0.05 } },
    };

    private async Task ReportAsync(string rolloutId, ulong labelledA, ulong correctA, ulong labelledB, ulong correctB, ShadowReport? shadow = null)
    {
        var status = new DeviceStatus
        {
            Header = Device.Header(), State = DeviceState.Online, SampleCount = 5, Shadow = shadow,
            Experiment = new ExperimentReport
            {
                RolloutId = rolloutId,
                A = new ArmCounts { Version = 0, Served = labelledA, Labelled = labelledA, Correct = correctA, LatencyP95Ms = 1 },
                B = new ArmCounts { Version = 1, Served = labelledB, Labelled = labelledB, Correct = correctB, LatencyP95Ms = 1 },
            },
        };
        await Device.PublishAsync("status", status);
        await Eventually.Until(() => Node.Devices.TryGet("d-1", out var d) && d.Experiment?.B.Labelled == labelledB, "the A/B report applied");
    }

    [Fact]
    public async Task ALosingVersion_IsStoppedEarly_ByTheSequentialTest()
    {
        var rollout = await Node.Rollouts.CreateAsync("bob", Request(ExperimentMode.Sequential), CancellationToken.None);
        Assert.Equal(RolloutStatusKind.Experiment, rollout.State);
        Assert.Contains("A/B test on 100 % of the cohort, 50 % of requests to the version (Sequential, at most 1812 labels per arm)", rollout.Note, StringComparison.Ordinal);

        await ReportAsync(rollout.Id, 100, 80, 100, 78);
        await Node.Rollouts.EvaluateAsync(CancellationToken.None);
        Assert.Equal(RolloutStatusKind.Experiment, Node.Rollouts.Current!.State);
        Assert.StartsWith("wait: A/B test (sequential)", Node.Rollouts.View(Node.Rollouts.Current).Gate.Verdict.ToString(), StringComparison.OrdinalIgnoreCase);

        await ReportAsync(rollout.Id, 300, 240, 300, 195); // 80% against 65%, long before the horizon
        await Node.Rollouts.EvaluateAsync(CancellationToken.None);
        var stopped = Node.Rollouts.Current!;
        Assert.Equal(RolloutStatusKind.Aborted, stopped.State);
        Assert.StartsWith("aborted: A/B test (Sequential): the version is less accurate", stopped.Note, StringComparison.Ordinal);
        Assert.Equal("system:ab-test", Node.Audit.Entries().Last().Actor);
        Assert.Equal(300, Node.Rollouts.View(stopped).Experiment!.Reading.LabelledB);
    }

    [Fact]
    public async Task TheFixedHorizonTest_IsReadOnlyAtItsHorizon_ThenPromotes()
    {
        var rollout = await Node.Rollouts.CreateAsync("bob", Request(ExperimentMode.FixedHorizon), CancellationToken.None);
        await ReportAsync(rollout.Id, 300, 240, 300, 290); // obviously better already, but the design said 906 per arm
        await Node.Rollouts.EvaluateAsync(CancellationToken.None);
        Assert.Equal(RolloutStatusKind.Experiment, Node.Rollouts.Current!.State);
        Assert.StartsWith("wait: A/B test (fixed horizon): 300 of 906 labels per arm", Node.Rollouts.View(Node.Rollouts.Current).Gate.Verdict.ToString(), StringComparison.Ordinal);

        await ReportAsync(rollout.Id, 906, 725, 906, 731); // no significant difference at the horizon: promoted by policy
        await Node.Rollouts.EvaluateAsync(CancellationToken.None);
        var promoted = Node.Rollouts.Current!;
        Assert.Equal(RolloutStatusKind.Active, promoted.State);
        Assert.Equal(0, promoted.Stage);
        Assert.Contains("no significant difference at the horizon of 906 labels per arm", Node.Audit.Entries().Last().Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AShadowThenAnABTest_ThenTheFirstStage()
    {
        var rollout = await Node.Rollouts.CreateAsync("bob", Request(ExperimentMode.Sequential, shadowFirst: true), CancellationToken.None);
        Assert.Equal(RolloutStatusKind.Shadow, rollout.State);
        var shadow = new ShadowReport { RolloutId = rollout.Id, CandidateVersion = 1, Offered = 50, Scored = 50, Agreed = 50, IncumbentLatencyP95Ms = 1, CandidateLatencyP95Ms = 1 };
        await ReportAsync(rollout.Id, 0, 0, 0, 0, shadow);
        await Node.Rollouts.EvaluateAsync(CancellationToken.None);
        Assert.Equal(RolloutStatusKind.Experiment, Node.Rollouts.Current!.State);
        Assert.StartsWith("shadow passed; A/B test on 100 %", Node.Rollouts.Current.Note, StringComparison.Ordinal);

        await ReportAsync(rollout.Id, 400, 320, 400, 370, shadow); // 80% against 92.5%
        await Node.Rollouts.EvaluateAsync(CancellationToken.None);
        Assert.Equal(RolloutStatusKind.Active, Node.Rollouts.Current!.State);
        Assert.StartsWith("the version is more accurate", Node.Audit.Entries().Last().Reason.Split(": ", 2)[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABandit_MovesTheSplitStepByStep_InNewPlanRevisions_AndRecordsAllocationAndRegret()
    {
        var request = Request(ExperimentMode.Bandit);
        request.Experiment!.Bandit = new BanditPolicy { MaxStep = 0.1, LabelsPerStep = 100 };
        var rollout = await Node.Rollouts.CreateAsync("bob", request, CancellationToken.None);

        await ReportAsync(rollout.Id, 150, 117, 150, 126); // B leads (84% vs 78%) but is not yet sure
        await Node.Rollouts.EvaluateAsync(CancellationToken.None);
        var stepped = Node.Rollouts.Current!;
        Assert.Equal(RolloutStatusKind.Experiment, stepped.State);
        Assert.Equal(0.6, stepped.Split!.Value, 9);
        Assert.Equal(rollout.Revision + 1, stepped.Revision);
        var point = Assert.Single(stepped.Allocation);
        Assert.True(point.ProbabilityBBetter is > 0.5 and < 0.99, $"{point}");
        Assert.True(point.Regret > 0);
        var audit = Node.Audit.Entries("rollout/").Last();
        Assert.Equal(("system:bandit", "rollout.rebalance"), (audit.Actor, audit.Action));
        Assert.StartsWith("split 50 % → 60 %", audit.Reason, StringComparison.Ordinal);

        await Node.Rollouts.EvaluateAsync(CancellationToken.None); // no new labels: no new step
        Assert.Equal(stepped.Revision, Node.Rollouts.Current!.Revision);

        await ReportAsync(rollout.Id, 300, 234, 500, 440); // 88% against 78%
        await Node.Rollouts.EvaluateAsync(CancellationToken.None);
        Assert.Equal(RolloutStatusKind.Active, Node.Rollouts.Current!.State);
        Assert.StartsWith("bandit: the version is more accurate", Node.Audit.Entries().Last().Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AForgedABReport_IsIgnored_AndTheTestKeepsReadingTheOthers()
    {
        var rollout = await Node.Rollouts.CreateAsync("bob", Request(ExperimentMode.Sequential), CancellationToken.None);
        var forged = new ExperimentReport
        {
            RolloutId = rollout.Id,
            A = new ArmCounts { Version = 0, Served = 10, Labelled = 10, Correct = 10 },
            B = new ArmCounts { Version = 1, Served = 10, Labelled = 10, Correct = 9_999 }, // more right than labelled
        };
        await Device.PublishAsync("status", new DeviceStatus { Header = Device.Header(), State = DeviceState.Online, SampleCount = 5, Experiment = forged });
        await Eventually.Until(() => Node.Devices.TryGet("d-1", out var d) && d.LastSequence > 1, "the forged status applied");
        Assert.True(Node.Devices.TryGet("d-1", out var device));
        Assert.Null(device.Experiment);
        await Node.Rollouts.EvaluateAsync(CancellationToken.None);
        Assert.Equal(RolloutStatusKind.Experiment, Node.Rollouts.Current!.State); // not promoted by a forged win
    }
}
