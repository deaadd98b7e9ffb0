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
}
