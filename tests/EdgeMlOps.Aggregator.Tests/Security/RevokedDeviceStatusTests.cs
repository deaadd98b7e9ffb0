using EdgeMlOps.Aggregator.Tests.Fleet;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Aggregator.Tests.Security;

/// <summary>
/// A revoked device's retained status stayed on the broker: every start of the aggregator read it back and counted it a
/// refused message ("status of a revoked device"), an alarm for something that happened once, long ago.
/// </summary>
public sealed class RevokedDeviceStatusTests
{
    private static readonly Topics Topics = new("test");

    [Fact]
    public async Task ARevokedDevicesRetainedStatus_IsCleared_AndARestartRefusesNothing()
    {
        var directory = AggregatorFixture.TempDirectory();
        var hub = new InMemoryFleetHub();
        await using (var device = hub.Create(new FleetChannelOptions("stolen") { CleanStart = true }, NullLoggerFactory.Instance))
        {
            await device.ConnectAsync(CancellationToken.None);
            await using var node = new AggregatorNode(AggregatorFixture.Options(directory, clients: 1), channels: hub);
            await node.StartAsync(CancellationToken.None);
            var status = new DeviceStatus { Header = ProtocolInfo.NewHeader("test", "stolen", 1, 0), State = DeviceState.Online, StatusIntervalSeconds = 60 };
            await device.PublishAsync(Topics.Status("stolen"), status.ToByteArray(), retain: true, CancellationToken.None);
            await Eventually.Until(() => node.Devices.TryGet("stolen", out _), "the device in the directory");

            await node.RevokeDeviceAsync("stolen", "stolen from the depot", "ops");
            Assert.False(node.Devices.TryGet("stolen", out _));
            Assert.Equal(0, node.Rejections.Total);
        }

        var retained = await RetainedTopics.ReadAsync(hub, [Topics.AllDevices("status"), Topics.Trust], Topics.Trust);
        Assert.DoesNotContain(Topics.Status("stolen"), retained);

        await using var again = new AggregatorNode(AggregatorFixture.Options(directory, clients: 1), channels: hub);
        await again.StartAsync(CancellationToken.None);
        Assert.Equal(0, again.Rejections[RejectionReason.NotAuthorized]);
    }
}
