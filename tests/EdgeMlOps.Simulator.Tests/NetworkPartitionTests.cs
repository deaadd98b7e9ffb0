using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// Chaos through the TCP fault proxy, one proxy per device in front of the real broker: a partition cuts some devices
/// off in the middle of a round and a latency spike slows another. The round completes at quorum, nothing from the
/// cut devices is counted in it or twice, and once the network heals they train again.
/// </summary>
[Collection(FleetCollection.Name)]
public class NetworkPartitionTests
{
    private const int Devices = 4;

    [Fact]
    public async Task APartitionMidRound_CompletesItAtQuorum_RefusesTheLateUpdates_AndTheHealedDevicesTrainNextRound()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-partition-" + Guid.NewGuid().ToString("N"));
        await using var node = new AggregatorNode(new AggregatorOptions
        {
            Fleet = "partition",
            ModelName = "m",
            Model = ModelSpecText.Parse("mlp-3-4-2"),
            EmbeddedBrokerPort = 0,
            HttpUrl = "http://127.0.0.1:0",
            DataDirectory = Path.Combine(dir, "agg"),
            Rounds = new RoundOptions { ClientsPerRound = Devices, OverSelection = 1, MinQuorum = 0.5, ReportDeadline = TimeSpan.FromSeconds(8), LocalEpochs = 1, BatchSize = 2 },
        });
        await node.StartAsync(CancellationToken.None);
        var proxies = new List<TcpFaultProxy>();
        var agents = new List<DeviceAgent>();
        var stores = new List<IDisposable>();
        using var http = new HttpClient();
        try
        {
            for (var i = 1; i <= Devices; i++)
            {
                var proxy = new TcpFaultProxy(node.BrokerEndpoint.Port);
                proxies.Add(proxy);
                var device = Path.Combine(dir, $"dev-{i}");
                var (samples, outbox) = (new SampleStore(Path.Combine(device, "agent.db"), 100, 10), new Outbox(Path.Combine(device, "outbox.db"), 10));
                stores.AddRange([samples, outbox]);
                var agent = new DeviceAgent(
                    new AgentOptions
                    {
                        DeviceId = $"dev-{i}", Fleet = "partition", Broker = new MqttEndpoint("127.0.0.1", proxy.Port, Tls: true),
                        FleetCa = node.Security.Authority.Certificate, Enrollment = Join.Enrollment(node), TrustedRoots = [node.Keys.RootPublicKey],
                    },
                    new AgentDependencies
                    {
                        Store = samples, Outbox = outbox,
                        Models = new ModelStore(Path.Combine(device, "models")), Http = http,
                    });
                agents.Add(agent);
                agent.Feedback([(new[] { 1f, 0f, i }, 0L), (new[] { 0f, 1f, -i }, 1L)]);
                await agent.StartAsync(CancellationToken.None);
            }

            foreach (var agent in agents)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await agent.WaitForModelAsync(1, cts.Token);
            }

            await Eventually.Until(() => node.Devices.Eligible().Count == Devices, "every device online and eligible");

            proxies[1].Delay = TimeSpan.FromMilliseconds(700); // dev-2: a latency spike, every packet late
            proxies[2].Delay = proxies[3].Delay = TimeSpan.FromSeconds(2); // dev-3, dev-4: slow links about to fail
            var first = node.RunRoundAsync(CancellationToken.None);
            await Eventually.Until(() => agents.All(a => Interlocked.Read(ref a.Counters.TasksReceived) == 1), "every device got its task", seconds: 20);
            proxies[2].Cut(); // dev-3 and dev-4: partitioned off, their updates still on the wire
            proxies[3].Cut();
            var report = await first.WaitAsync(TimeSpan.FromSeconds(60));

            Assert.Equal(RoundStatus.Completed, report.Status);
            Assert.Equal(["dev-1", "dev-2"], report.Contributions.Keys.Order());
            Assert.Equal(2, report.Contributors);
            await Eventually.Until(() => agents.Skip(2).All(a => Interlocked.Read(ref a.Counters.UpdatesProduced) == 1), "the cut devices trained, their updates held in the outbox");

            // The network heals: the cut devices' updates for the closed round arrive and are refused, counted once each.
            var before = node.Rejections[RejectionReason.RoundClosed] + node.Rejections[RejectionReason.UnknownRound];
            foreach (var proxy in proxies) proxy.Delay = TimeSpan.Zero;
            proxies[2].Restore();
            proxies[3].Restore();
            await Eventually.Until(() => agents.Skip(2).All(a => Interlocked.Read(ref a.Counters.OutboxSent) == 1), "the cut devices' outboxes drained", seconds: 40);
            await Eventually.Until(() => node.Rejections[RejectionReason.RoundClosed] + node.Rejections[RejectionReason.UnknownRound] == before + 2, "both late updates refused");
            await Eventually.Until(() => node.Devices.Eligible().Count == Devices, "every device eligible again", seconds: 40);

            var second = await node.RunRoundAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(RoundStatus.Completed, second.Status);
            Assert.Equal(["dev-1", "dev-2", "dev-3", "dev-4"], second.Contributions.Keys.Order());
            Assert.Equal(0, second.Rejected);
            Assert.Equal([2, Devices], node.Registry.Rounds("m").Select(r => r.Contributors));
        }
        finally
        {
            foreach (var agent in agents) await agent.DisposeAsync();
            foreach (var proxy in proxies) await proxy.DisposeAsync();
            foreach (var store in stores) store.Dispose();
        }
    }
}
