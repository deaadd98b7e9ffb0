using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMlOps.Aggregator.Tests.Fleet;

/// <summary>
/// A fleet whose devices come and go (phones replaced, vehicles sold, sensors swapped) must not grow the aggregator's
/// memory, or the broker's retained messages, with every device it ever had: the directory kept each device heard
/// from since the process started, and the broker each device's retained status for ever — a restart read them all back.
/// </summary>
public sealed class SilentDevicesTests
{
    private static readonly Topics Topics = new("test");

    private static byte[] Status(string id, DeviceState state, ulong sequence) => new DeviceStatus
    {
        Header = ProtocolInfo.NewHeader("test", id, sequence, 0),
        State = state,
        SampleCount = 10,
        StatusIntervalSeconds = 60,
    }.ToByteArray();

    [Fact]
    public async Task ADeviceGoneForAWeek_IsForgotten_ItsRetainedStatusCleared_AndItComesBackWhenItSpeaks()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var hub = new InMemoryFleetHub();
        await using var phone = hub.Create(new FleetChannelOptions("phone") { CleanStart = true }, NullLoggerFactory.Instance);
        await using var sensor = hub.Create(new FleetChannelOptions("sensor") { CleanStart = true }, NullLoggerFactory.Instance);
        await phone.ConnectAsync(CancellationToken.None);
        await sensor.ConnectAsync(CancellationToken.None);
        await using var node = new AggregatorNode(AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1), time: time, channels: hub);
        await node.StartAsync(CancellationToken.None);

        await phone.PublishAsync(Topics.Status("phone"), Status("phone", DeviceState.Online, 1), retain: true, CancellationToken.None);
        await phone.PublishAsync(Topics.Status("phone"), Status("phone", DeviceState.Offline, 2), retain: true, CancellationToken.None);
        await sensor.PublishAsync(Topics.Status("sensor"), Status("sensor", DeviceState.Online, 1), retain: true, CancellationToken.None);
        await Eventually.Until(() => node.Devices.TryGet("phone", out var p) && p.State == DeviceState.Offline && node.Devices.TryGet("sensor", out _), "both devices in the directory");

        // Six days on, the sensor keeping to its status interval: nothing is forgotten yet.
        ulong sequence = 1;
        async Task HoursPass(int hours)
        {
            for (var hour = 0; hour < hours; hour++)
            {
                time.Advance(TimeSpan.FromHours(1)); // the aggregator looks every hour (a tenth of the week, at most an hour)
                await sensor.PublishAsync(Topics.Status("sensor"), Status("sensor", DeviceState.Online, ++sequence), retain: true, CancellationToken.None);
            }
        }

        await HoursPass(24 * 6);
        Assert.Equal(0, await node.SilentDevices.SweepAsync(CancellationToken.None));
        Assert.Equal((2, 0L), (node.Devices.Count, node.SilentDevices.Forgotten));

        // Past a week: the phone is forgotten, the sensor stays; the broker no longer retains the phone's status.
        await HoursPass(24 + 2);
        await Eventually.Until(() => node.SilentDevices.Forgotten == 1, "the phone forgotten by the aggregator's hourly look");
        Assert.False(node.Devices.TryGet("phone", out _));
        Assert.True(node.Devices.TryGet("sensor", out _));
        Assert.Equal(0, await node.SilentDevices.SweepAsync(CancellationToken.None));
        Assert.Equal([Topics.Status("sensor")], await RetainedTopics.ReadAsync(hub, [Topics.AllDevices("status")], Topics.Status("sensor")));

        // The cleared retained message reaches the aggregator as an empty status: not a device's malformed message.
        Assert.Equal(0, node.Rejections[RejectionReason.ProtocolVersion] + node.Rejections[RejectionReason.Malformed]);

        // The phone comes back: its status adds it anew, whatever it was before.
        await phone.PublishAsync(Topics.Status("phone"), Status("phone", DeviceState.Online, 1), retain: true, CancellationToken.None);
        await Eventually.Until(() => node.Devices.TryGet("phone", out var p) && p.State == DeviceState.Online, "the phone back in the directory");
    }

    [Fact]
    public void TheDirectory_ForgetsOnlyDevicesNotOnlineOrSilent_PastTheirTime()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var directory = new DeviceDirectory(time);
        void Apply(string id, DeviceState state, uint interval) => directory.Apply(id, new DeviceStatus
        {
            Header = ProtocolInfo.NewHeader("test", id, 1, 0),
            State = state,
            StatusIntervalSeconds = interval,
        }, time.GetUtcNow());

        Apply("lost", DeviceState.Lost, 60);
        Apply("offline", DeviceState.Offline, 60);
        Apply("silent", DeviceState.Online, 60);
        Apply("undeclared", DeviceState.Online, 0); // online, its interval unknown: silence cannot be told from quiet
        Apply("slow", DeviceState.Online, 86_400 * 4); // one status every four days: not silent for twelve
        time.Advance(TimeSpan.FromDays(8));
        Apply("fresh", DeviceState.Lost, 60);

        var forgotten = directory.ForgetSilent(TimeSpan.FromDays(7)).Select(d => d.DeviceId).Order(StringComparer.Ordinal);
        Assert.Equal(["lost", "offline", "silent"], forgotten);
        Assert.Equal(["fresh", "slow", "undeclared"], directory.All.Select(d => d.DeviceId).Order(StringComparer.Ordinal));
        Assert.Empty(directory.ForgetSilent(TimeSpan.FromDays(7)));
    }

    [Fact]
    public void TheLog_SaysThePeriodReadably()
    {
        Assert.Equal(["7 days", "12 hours", "17.3 s"], new[] { TimeSpan.FromDays(7), TimeSpan.FromDays(0.5), TimeSpan.FromDays(0.0002) }.Select(SilentDevices.Period));
    }
}
