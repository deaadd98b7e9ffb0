using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Models;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// Chaos: a device cut off from the broker for twelve hours of the injected clock (aggregator and agent share it), on
/// real MQTT through the TCP fault proxy. Offline it keeps serving and taking feedback within its bounds (samples,
/// outbox); after the network heals it reconnects and drains what it kept, oldest first. Nothing is refused but the
/// profiles of windows older than the aggregator keeps (four hours of five-minute windows), counted as stale.
/// </summary>
[Collection(FleetCollection.Name)]
public class LongOutageTests
{
    private const int MaxSamples = 100;
    private const int OutboxCapacity = 8;

    [Fact]
    public async Task TwelveHoursOffline_ServesAndLearnsWithinItsBounds_AndCatchesUpAfterReconnecting()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-long-outage-" + Guid.NewGuid().ToString("N"));
        await using var node = new AggregatorNode(new AggregatorOptions
        {
            Fleet = "outage", ModelName = "m", Model = ModelSpecText.Parse("mlp-3-4-2"), EmbeddedBrokerPort = 0,
            HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
        }, time: clock);
        await node.StartAsync(CancellationToken.None);
        await using var proxy = new TcpFaultProxy(node.BrokerEndpoint.Port);
        using var store = new SampleStore(Path.Combine(dir, "dev", "agent.db"), MaxSamples, 10, clock);
        using var outbox = new Outbox(Path.Combine(dir, "dev", "outbox.db"), OutboxCapacity);
        using var http = new HttpClient();
        await using var agent = new DeviceAgent(
            new AgentOptions
            {
                DeviceId = "dev-1", Fleet = "outage", Broker = new MqttEndpoint("127.0.0.1", proxy.Port, Tls: true), FleetCa = node.Security.Authority.Certificate,
                Enrollment = Join.Enrollment(node), TrustedRoots = [node.Keys.RootPublicKey], ProfileWindow = TimeSpan.FromMinutes(30),
            },
            new AgentDependencies { Store = store, Outbox = outbox, Models = new ModelStore(Path.Combine(dir, "dev", "models")), Http = http, Time = clock });
        await agent.StartAsync(CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await agent.WaitForModelAsync(1, cts.Token);
        await Eventually.Until(() => Online(node), "the device online");

        proxy.Cut();
        await Eventually.Until(() => !agent.IsConnected, "the agent notices the cut");
        var random = new Random(5);
        for (var hour = 1; hour <= 12; hour++)
        {
            for (var minute = 0; minute < 60; minute += 10)
            {
                clock.Advance(TimeSpan.FromMinutes(10));
                for (var i = 0; i < 5; i++)
                {
                    var features = new[] { (float)random.NextDouble(), (float)random.NextDouble(), hour };
                    var served = agent.Predict(features);
                    Assert.Equal(1UL, served.ModelVersion);
                    Assert.True(agent.Feedback(served.PredictionId, i % 2), "feedback on a prediction is taken offline");
                }
            }

            Assert.True(agent.SampleCount <= MaxSamples, $"hour {hour}: {agent.SampleCount} samples kept");
            Assert.True(outbox.Count <= OutboxCapacity, $"hour {hour}: {outbox.Count} messages queued");
        }

        Assert.Equal(MaxSamples, agent.SampleCount);
        Assert.Equal(OutboxCapacity, outbox.Count); // a profile per half hour: the newest kept, the oldest dropped and counted
        Assert.True(outbox.Dropped > 0);
        var profilesBefore = node.ProfilesAccepted;

        proxy.Restore();
        await Eventually.Until(() =>
        {
            clock.Advance(TimeSpan.FromSeconds(1)); // reconnection backoff and status timers run on the injected clock
            return agent.IsConnected && outbox.Count == 0;
        }, "the agent reconnects and drains its outbox", seconds: 60);
        await Eventually.Until(() => node.ProfilesAccepted + node.Rejections[RejectionReason.Stale] == profilesBefore + OutboxCapacity, $"the {OutboxCapacity} kept profiles delivered (refused: {string.Join(", ", node.Rejections.Snapshot())})");
        Assert.InRange(node.ProfilesAccepted - profilesBefore, 1, OutboxCapacity); // the windows still kept are filed
        Assert.Equal(node.Rejections[RejectionReason.Stale], node.Rejections.Total);
        await Eventually.Until(() =>
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            return Online(node) && node.Devices.TryGet("dev-1", out var d) && d.SampleCount == MaxSamples;
        }, "the aggregator sees the device online with its bounded samples");
        Assert.Equal(node.Rejections[RejectionReason.Stale], node.Rejections.Total); // nothing else refused
    }

    private static bool Online(AggregatorNode node) =>
        node.Devices.TryGet("dev-1", out var device) && device.State == EdgeMlOps.Shared.Protocol.V1.DeviceState.Online;
}
