using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Fleet;

/// <summary>
/// Times a device states are its clock's, or forged: a status's fresh-until and a profile's window end past what a date
/// can hold once threw inside the aggregator's message handler (the status was lost, nothing counted), and a profile
/// dated ahead made the monitor forget every window of the fleet's (it kept the retained windows back from the newest).
/// </summary>
public sealed class DeviceClockTests
{
    private static async Task<(AggregatorNode Node, ScriptedDevice Device)> StartAsync()
    {
        var node = new AggregatorNode(AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1));
        await node.StartAsync(CancellationToken.None);
        var device = new ScriptedDevice("dev-1", "test", node);
        await device.ConnectAsync(samples: 5);
        await Eventually.Until(() => node.Devices.TryGet("dev-1", out var d) && d.SampleCount == 5, "the device's status");
        return (node, device);
    }

    [Fact]
    public async Task AStatusWhoseFreshUntilNoDateHolds_IsKept_WithoutIt()
    {
        var (node, device) = await StartAsync();
        await using (node)
        await using (device)
        {
            await device.PublishAsync("status", new DeviceStatus { Header = device.Header(), State = DeviceState.Online, SampleCount = 9, FreshUntilUnixMs = long.MaxValue });
            await Eventually.Until(() => node.Devices.TryGet("dev-1", out var d) && d.SampleCount == 9, "the status applied");
            Assert.True(node.Devices.TryGet("dev-1", out var info));
            Assert.Null(info.FreshUntil);
        }
    }

    [Theory]
    [InlineData("no date holds it", RejectionReason.BadProfile)]
    [InlineData("before any date", RejectionReason.BadProfile)]
    [InlineData("a clock never set", RejectionReason.BadProfile)]
    [InlineData("ten years ahead", RejectionReason.BadProfile)]
    [InlineData("a year ago", RejectionReason.Stale)] // older than the windows kept
    public async Task AProfileDatedOutsideTheKeptWindows_IsRefusedAndCounted_AndTheFleetsWindowsStay(string when, RejectionReason expected)
    {
        var (node, device) = await StartAsync();
        await using (node)
        await using (device)
        {
            var now = DateTimeOffset.UtcNow;
            await device.PublishAsync("profile", Profile(device, now.ToUnixTimeMilliseconds()));
            await Eventually.Until(() => node.ProfilesAccepted == 1, "a profile of now accepted");

            var end = when switch
            {
                "no date holds it" => long.MaxValue,
                "before any date" => long.MinValue,
                "a clock never set" => 0,
                "ten years ahead" => now.AddYears(10).ToUnixTimeMilliseconds(),
                _ => now.AddYears(-1).ToUnixTimeMilliseconds(),
            };
            await device.PublishAsync("profile", Profile(device, end));

            await Eventually.Until(() => node.Rejections[expected] == 1, $"refused as {expected}");
            Assert.Equal(1, node.ProfilesAccepted);
            Assert.Equal(3, node.Monitor.Window(1, FleetMonitor.AllCohorts, node.Monitor.WindowOf(now))!.Features[0].Count);
        }
    }

    [Fact]
    public async Task AProfileDatedAheadOfTheAggregatorsClock_PrunesNoWindowTheClockStillKeeps()
    {
        var (node, device) = await StartAsync();
        await using (node)
        await using (device)
        {
            var window = node.Options.Monitoring.Window;
            var earlier = DateTimeOffset.UtcNow - window;
            var ahead = DateTimeOffset.UtcNow + (window * node.Options.Monitoring.RetainedWindows); // the furthest a profile is filed ahead
            await device.PublishAsync("profile", Profile(device, earlier.ToUnixTimeMilliseconds()));
            await device.PublishAsync("profile", Profile(device, ahead.ToUnixTimeMilliseconds()));
            await Eventually.Until(() => node.ProfilesAccepted == 2, "both filed");
            Assert.NotNull(node.Monitor.Window(1, FleetMonitor.AllCohorts, node.Monitor.WindowOf(earlier)));
        }
    }

    private static ProfileReport Profile(ScriptedDevice device, long windowEndUnixMs)
    {
        var profile = new WindowProfile(4, 2);
        for (var i = 0; i < 3; i++) profile.AddInputs([i, 1, 2, 3]);
        var report = profile.ToProto();
        report.Header = device.Header();
        report.ModelName = "tiny";
        report.ModelVersion = 1;
        report.WindowEndUnixMs = windowEndUnixMs;
        return report;
    }
}
