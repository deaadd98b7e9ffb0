using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Rollouts;

/// <summary>A rollout's shadow phase at the aggregator: devices' reports over MQTT, the gate promoting or stopping it, the audit.</summary>
public sealed class ShadowRolloutTests : GovernedFleet
{
    private static RolloutRequest Request() => new()
    {
        Version = 1,
        Stages = [0.5, 1.0],
        Reason = "shadow first",
        Shadow = new ShadowRequest { Share = 1.0, MinScored = 200, MinAgreement = 0.9 },
        Gates = new RolloutGates { MinFeedback = 50 },
    };

    private async Task ReportAsync(string rolloutId, ulong scored, ulong agreed, ulong labelled, ulong onlyIncumbent, ulong onlyCandidate)
    {
        var report = new ShadowReport
        {
            RolloutId = rolloutId, CandidateVersion = 1, Offered = scored, Scored = scored, Agreed = agreed, Labelled = labelled,
            OnlyIncumbentCorrect = onlyIncumbent, OnlyCandidateCorrect = onlyCandidate, IncumbentCorrect = labelled - onlyCandidate, CandidateCorrect = labelled - onlyIncumbent,
            IncumbentLatencyP95Ms = 1, CandidateLatencyP95Ms = 1,
        };
        await Device.PublishAsync("status", new DeviceStatus { Header = Device.Header(), State = DeviceState.Online, SampleCount = 5, Shadow = report, Rollout = new RolloutProgress { RolloutId = rolloutId, Phase = RolloutPhase.Shadowing, TargetVersion = 1 } });
        await Eventually.Until(() => Node.Devices.TryGet("d-1", out var d) && d.Shadow?.Scored == scored, "the shadow report applied");
    }

    [Fact]
    public async Task AShadowThatPasses_IsPromotedToTheFirstStage_WithoutApproval_AndAudited()
    {
        var rollout = await Node.Rollouts.CreateAsync("bob", Request(), CancellationToken.None);
        Assert.Equal(RolloutStatusKind.Shadow, rollout.State);
        Assert.Equal("shadow on 100 % of the cohort", rollout.Note);
        Assert.All(Node.Rollouts.View(rollout).Stages, s => Assert.False(s.Open));
        await Assert.ThrowsAsync<GovernanceException>(() => Node.Rollouts.PauseAsync("bob", rollout.Id, "no", CancellationToken.None));

        await ReportAsync(rollout.Id, scored: 100, agreed: 100, labelled: 60, 0, 0);
        var waiting = await Node.Rollouts.EvaluateAsync(CancellationToken.None);
        Assert.Equal(RolloutStatusKind.Shadow, Node.Rollouts.Current!.State);
        Assert.StartsWith("wait: 100 requests scored", waiting!.Gate.Verdict.ToString(), StringComparison.Ordinal);

        await ReportAsync(rollout.Id, scored: 400, agreed: 396, labelled: 150, onlyIncumbent: 2, onlyCandidate: 4);
        await Node.Rollouts.EvaluateAsync(CancellationToken.None);
        var promoted = Node.Rollouts.Current!;
        Assert.Equal(RolloutStatusKind.Active, promoted.State);
        Assert.Equal(0, promoted.Stage);
        Assert.True(Node.Rollouts.View(promoted).Stages[0].Open);
        var entry = Node.Audit.Entries().Last();
        Assert.Equal("system:shadow-gate", entry.Actor);
        Assert.Equal("rollout.advance", entry.Action);
        Assert.Contains("shadow gate passed: 400 requests on 1 devices, agreement 99.0 %", entry.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AShadowLessAccurateOnTheSameRequests_StopsTheRollout_BeforeAnyDeviceServesIt()
    {
        var rollout = await Node.Rollouts.CreateAsync("bob", Request(), CancellationToken.None);
        await ReportAsync(rollout.Id, scored: 400, agreed: 210, labelled: 150, onlyIncumbent: 70, onlyCandidate: 3);
        await Node.Rollouts.EvaluateAsync(CancellationToken.None);
        var stopped = Node.Rollouts.Current!;
        Assert.Equal(RolloutStatusKind.Aborted, stopped.State);
        Assert.StartsWith("aborted: ground-truth accuracy", stopped.Note, StringComparison.Ordinal);
        Assert.Equal("system:shadow-gate", Node.Audit.Entries().Last().Actor);
        var view = Node.Rollouts.View(stopped);
        Assert.Equal(400, view.Shadow!.Scored);
        Assert.All(view.Stages, s => Assert.Equal(0, s.Installed));
    }

    [Fact]
    public async Task AForgedShadowReportWithImpossibleCounts_IsIgnored_AndTheGateKeepsWorking()
    {
        var rollout = await Node.Rollouts.CreateAsync("bob", Request(), CancellationToken.None);
        var forged = new ShadowReport
        {
            RolloutId = rollout.Id, CandidateVersion = 1, Offered = ulong.MaxValue, Scored = ulong.MaxValue, Agreed = 5,
            Labelled = 10, OnlyCandidateCorrect = 1_000, OnlyIncumbentCorrect = 0,
        };
        await Device.PublishAsync("status", new DeviceStatus { Header = Device.Header(), State = DeviceState.Online, SampleCount = 5, Shadow = forged });
        await Eventually.Until(() => Node.Devices.TryGet("d-1", out var d) && d.LastSequence > 1, "the forged status applied");
        Assert.True(Node.Devices.TryGet("d-1", out var device));
        Assert.Null(device.Shadow); // counts that cannot be true are dropped, not summed
        var view = await Node.Rollouts.EvaluateAsync(CancellationToken.None);
        Assert.StartsWith("wait: 0 requests scored", view!.Gate.Verdict.ToString(), StringComparison.Ordinal);
    }
}
