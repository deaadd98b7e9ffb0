using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Rollouts;

namespace EdgeMlOps.Aggregator.Tests.Rollouts;

/// <summary>The gate waits only for devices that can answer.</summary>
public sealed class RolloutGateDevicesTests
{
    [Fact]
    public async Task ADeviceSilentPastItsStatusInterval_IsNotAwaitedByTheGate()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with { Governance = new GovernanceOptions { Mode = DeploymentMode.Governed } };
        await using var node = new AggregatorNode(options, time: clock);
        await node.StartAsync(CancellationToken.None);
        await using var device = new ScriptedDevice("quiet", "test", node);
        await device.ConnectAsync(5);
        await device.PublishAsync("status", new EdgeMlOps.Shared.Protocol.V1.DeviceStatus { Header = device.Header(), State = EdgeMlOps.Shared.Protocol.V1.DeviceState.Online, SampleCount = 5, StatusIntervalSeconds = 10 });
        await Eventually.Until(() => node.Devices.TryGet("quiet", out var d) && d.StatusInterval is not null, "the status with its interval");
        node.Governance.Approve("alice", "tiny", 1, "first");
        var rollout = await node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = 1, Stages = [1.0], Reason = "all" }, CancellationToken.None);
        Assert.Equal(1, node.Rollouts.View(rollout).Gate.Targeted);

        clock.Advance(TimeSpan.FromMinutes(5)); // no status for 30 intervals: the device is gone, whatever its last state said
        var view = node.Rollouts.View(rollout);
        Assert.Equal(0, view.Gate.Targeted);
        Assert.Equal(1, view.Stages[0].Targeted);
    }

    [Fact]
    public async Task ADevicePartitionedOffInItsHealthWindow_IsAwaited_TheRolloutNeitherAdvancesNorAborts_UntilItReports()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with { Governance = new GovernanceOptions { Mode = DeploymentMode.Governed, RolloutCheckInterval = TimeSpan.FromHours(1) } };
        await using var node = new AggregatorNode(options, time: clock);
        await node.StartAsync(CancellationToken.None);
        await using var healthy = new ScriptedDevice("healthy", "test", node);
        await using var cut = new ScriptedDevice("cut", "test", node);
        foreach (var device in new[] { healthy, cut }) await device.ConnectAsync(5);
        node.Governance.Approve("alice", "tiny", 1, "first");
        var rollout = await node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = 1, Stages = [1.0], Reason = "all", AutoAdvance = true }, CancellationToken.None);

        async Task ReportAsync(ScriptedDevice device, EdgeMlOps.Shared.Protocol.V1.RolloutPhase phase) =>
            await device.PublishAsync("status", new EdgeMlOps.Shared.Protocol.V1.DeviceStatus
            {
                Header = device.Header(), State = EdgeMlOps.Shared.Protocol.V1.DeviceState.Online, SampleCount = 5, StatusIntervalSeconds = 10,
                Rollout = new EdgeMlOps.Shared.Protocol.V1.RolloutProgress { RolloutId = rollout.Id, Phase = phase, TargetVersion = 1 },
            });
        await ReportAsync(cut, EdgeMlOps.Shared.Protocol.V1.RolloutPhase.Trial);
        await ReportAsync(healthy, EdgeMlOps.Shared.Protocol.V1.RolloutPhase.Healthy);
        await Eventually.Until(() => node.Devices.TryGet("cut", out var d) && d.Rollout is { Phase: EdgeMlOps.Shared.Protocol.V1.RolloutPhase.Trial }
            && node.Devices.TryGet("healthy", out var h) && h.Rollout is { Phase: EdgeMlOps.Shared.Protocol.V1.RolloutPhase.Healthy }, "both statuses");

        clock.Advance(TimeSpan.FromMinutes(5)); // a partition: neither device is heard from again for 30 status intervals
        var waiting = await node.Rollouts.EvaluateAsync(CancellationToken.None);
        Assert.Equal("wait: 1 of 2 targeted devices reported (1 unreachable in their health window)", waiting!.Gate.Verdict.ToString());
        Assert.Equal((RolloutStatusKind.Active, 0), (node.Rollouts.Find(rollout.Id)!.State, node.Rollouts.Find(rollout.Id)!.Stage));

        await ReportAsync(cut, EdgeMlOps.Shared.Protocol.V1.RolloutPhase.Healthy); // the network heals
        await Eventually.Until(() => node.Devices.TryGet("cut", out var d) && d.Rollout is { Phase: EdgeMlOps.Shared.Protocol.V1.RolloutPhase.Healthy }, "the healed device's report");
        await node.Rollouts.EvaluateAsync(CancellationToken.None);
        Assert.Equal(RolloutStatusKind.Completed, node.Rollouts.Find(rollout.Id)!.State);
    }

    [Theory]
    [InlineData(0, 0.8)]
    [InlineData(1, 0.0)]
    [InlineData(1, 1.5)]
    public void GatesThatCouldPassWithNoDeviceReporting_AreRefused(int minDevices, double minFraction)
    {
        var gates = new RolloutGates { MinDevicesReporting = minDevices, MinReportingFraction = minFraction };
        Assert.Throws<ArgumentException>(gates.Validate);
    }
}
