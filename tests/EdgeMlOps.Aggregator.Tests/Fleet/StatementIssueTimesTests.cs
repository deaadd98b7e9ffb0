using System.Buffers;
using System.Collections.Concurrent;
using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMlOps.Aggregator.Tests.Fleet;

/// <summary>
/// Devices and gateways follow a revocation list, a catalogue, a rollout plan or a freshness statement only when it was
/// issued after the one they hold, so the aggregator's issue times must strictly increase — within a millisecond, and
/// after a restart on a clock set back — or a statement is dropped as old news: a device revoked in the same
/// millisecond as another, or after the clock stepped back, kept its site.
/// </summary>
public sealed class StatementIssueTimesTests
{
    private static readonly Topics Topics = new("test");

    [Fact]
    public async Task TwoRevocationsInOneMillisecond_ReachAGateway_AndSoDoThoseAfterARestartOnAClockSetBack()
    {
        var directory = AggregatorFixture.TempDirectory();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow); // not advanced: every statement in one millisecond
        var lists = new ConcurrentQueue<byte[]>();
        var catalogues = new ConcurrentQueue<byte[]>();
        byte[]? bundle = null;
        var hub = new InMemoryFleetHub();
        await using var recorder = hub.Create(new FleetChannelOptions("recorder") { CleanStart = true }, NullLoggerFactory.Instance);
        recorder.MessageReceived = (topic, payload) =>
        {
            if (topic == Topics.Trust) bundle = payload.ToArray();
            (topic == Topics.Revocations ? lists : topic == Topics.Catalogue ? catalogues : null)?.Enqueue(payload.ToArray());
            return Task.CompletedTask;
        };
        await recorder.SubscribeAsync([Topics.Revocations, Topics.Catalogue, Topics.Trust], CancellationToken.None);
        await recorder.ConnectAsync(CancellationToken.None);

        byte[] root;
        await using (var node = new AggregatorNode(AggregatorFixture.Options(directory, clients: 1), time: time, channels: hub))
        {
            await node.StartAsync(CancellationToken.None);
            root = node.Keys.RootPublicKey;
            await node.RevokeDeviceAsync("dev-1", "stolen", "ops");
            await node.RevokeDeviceAsync("dev-2", "stolen", "ops");
            await node.RepublishAsync(CancellationToken.None);
            await Eventually.Until(() => lists.Count >= 4 && catalogues.Count >= 2, "the lists and catalogues recorded");
        }

        // The clock set back half an hour (a drifted real-time clock stepped at boot) and the aggregator restarted.
        time.AdjustTime(time.GetUtcNow().AddMinutes(-30));
        await using (var node = new AggregatorNode(AggregatorFixture.Options(directory, clients: 1), time: time, channels: hub))
        {
            await node.StartAsync(CancellationToken.None);
            var before = lists.Count;
            await node.RevokeDeviceAsync("dev-3", "stolen", "ops");
            await Eventually.Until(() => lists.Count > before && Names(lists.Last()).Contains("dev-3"), "the list naming dev-3 recorded");
        }

        var revoked = new List<string[]>();
        var gateway = new GatewayTrust("test", root) { DevicesRevoked = ids => revoked.Add([.. ids]) };
        var now = time.GetUtcNow().AddMinutes(30).ToUnixTimeMilliseconds(); // a gateway whose clock stayed right
        Assert.True(gateway.AcceptBundle(Signed.Parser.ParseFrom(bundle), now).Ok);
        foreach (var list in lists) Assert.Null(gateway.OfferRevocations(Signed.Parser.ParseFrom(list), now));
        Assert.Equal(["dev-1", "dev-2", "dev-3"], revoked[^1]);

        var issued = catalogues.Select(c => ModelCatalogue.Parser.ParseFrom(Signed.Parser.ParseFrom(c).Body).IssuedUnixMs).ToArray();
        Assert.True(issued.Zip(issued.Skip(1)).All(p => p.Second > p.First), $"catalogues issued at {string.Join(", ", issued)}");
    }

    private static string[] Names(byte[] list) => [.. DeviceRevocations.Parser.ParseFrom(Signed.Parser.ParseFrom(list).Body).DeviceIds];
}
