using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMlOps.Aggregator.Tests.Fleet;

public class DeviceDirectoryTests
{
    private static DeviceStatus Status(string id, ulong sequence, uint intervalSeconds) => new()
    {
        Header = ProtocolInfo.NewHeader("f", id, sequence, 0),
        State = DeviceState.Online,
        SampleCount = 10,
        StatusIntervalSeconds = intervalSeconds,
    };

    [Fact]
    public void DeviceSilentForThreeStatusIntervals_IsNoLongerEligible_UntilItSpeaksAgain()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var directory = new DeviceDirectory(clock);
        directory.Apply("quiet", Status("quiet", 1, intervalSeconds: 60), clock.GetUtcNow());
        directory.Apply("legacy", Status("legacy", 1, intervalSeconds: 0), clock.GetUtcNow());

        clock.Advance(TimeSpan.FromMinutes(3));
        Assert.Equal(["legacy", "quiet"], directory.Eligible().Select(d => d.DeviceId));

        // Gone without a Last Will: three intervals and the slack later it is not counted present.
        clock.Advance(DeviceDirectory.SilenceSlack + TimeSpan.FromSeconds(1));
        Assert.Equal(["legacy"], directory.Eligible().Select(d => d.DeviceId));

        directory.Apply("quiet", Status("quiet", 2, intervalSeconds: 60), clock.GetUtcNow());
        Assert.Equal(["legacy", "quiet"], directory.Eligible().Select(d => d.DeviceId));
    }

    /// <summary>
    /// A device's counters (samples its front end refused, sketches withheld, rows not sketched) stay as it last said
    /// when its Last Will arrives: the will is built at connect, before the agent has counted anything, and the fleet's
    /// counters must not fall back to zero each time a device drops off.
    /// </summary>
    [Fact]
    public void ALastWill_KeepsTheCountersTheDeviceLastReported()
    {
        var directory = new DeviceDirectory();
        var online = Status("scanner", 5, intervalSeconds: 60);
        (online.SamplesRefused, online.SketchesWithheld, online.SketchRowsDropped) = (7, 2, 3);
        directory.Apply("scanner", online, DateTimeOffset.UtcNow);
        Assert.True(directory.TryGet("scanner", out var seen));
        Assert.Equal((7UL, 2UL, 3UL), (seen.SamplesRefused, seen.SketchesWithheld, seen.SketchRowsDropped));

        var will = new DeviceStatus { Header = ProtocolInfo.NewHeader("f", "scanner", 1, 0), State = DeviceState.Lost };
        directory.Apply("scanner", will, DateTimeOffset.UtcNow);
        Assert.True(directory.TryGet("scanner", out var lost));
        Assert.Equal((DeviceState.Lost, 7UL, 2UL, 3UL), (lost.State, lost.SamplesRefused, lost.SketchesWithheld, lost.SketchRowsDropped));

        var next = Status("scanner", 6, intervalSeconds: 60);
        next.SamplesRefused = 9;
        directory.Apply("scanner", next, DateTimeOffset.UtcNow);
        Assert.True(directory.TryGet("scanner", out var back));
        Assert.Equal((DeviceState.Online, 9UL), (back.State, back.SamplesRefused));
    }
}
