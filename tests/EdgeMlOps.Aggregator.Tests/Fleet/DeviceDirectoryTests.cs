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
}
