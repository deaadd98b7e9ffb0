using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Trust;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Runtime.Mqtt;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A freeze (TUF): someone between a device and the fleet — a compromised broker, a hostile gateway — passes on
/// everything but the new version's announcement. Manifests stay valid for a month, so the device alone would think
/// itself current for weeks; the short-lived freshness statement naming the new announcement tells it within seconds.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class FreezeDetectionTests
{
    [Fact]
    public async Task ADeviceFromWhichANewVersionIsWithheld_SaysItIsBehind_AndTheAggregatorCountsIt()
    {
        var dir = TrustedInstallTests.TempDirectory();
        var hub = new InMemoryFleetHub();
        var options = TrustedInstallTests.Options(dir) with { Trust = new TrustOptions { TimestampLifetime = TimeSpan.FromSeconds(8) } };
        await using var node = new AggregatorNode(options, channels: hub);
        await node.StartAsync(CancellationToken.None);
        var attacker = new WithholdingChannels(hub, "edgemlops/v1/trust/model");
        await using var agent = new DeviceAgent(
            new AgentOptions { DeviceId = "dev-f", Fleet = "trust", Broker = new MqttEndpoint("in-memory", 1), TrustedRoots = [node.Keys.RootPublicKey], DataDirectory = Path.Combine(dir, "dev-f"), StatusInterval = TimeSpan.FromHours(1) },
            new AgentDependencies
            {
                Store = new SampleStore(Path.Combine(dir, "dev-f", "agent.db"), 100, 100),
                Outbox = new Outbox(Path.Combine(dir, "dev-f", "outbox.db"), 10),
                Models = new ModelStore(Path.Combine(dir, "dev-f", "models")),
                Http = new HttpClient(),
                Channels = attacker,
            });
        await agent.StartAsync(CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20))) await agent.WaitForModelAsync(1, cts.Token);

        // Fresh by the timestamp role: seconds ahead (the statement's lifetime), not the manifest's month.
        await Eventually.Until(() => agent.FreshUntil < DateTimeOffset.UtcNow.AddSeconds(9), "the first freshness statement");
        await Eventually.Until(() => node.Devices.TryGet("dev-f", out var d) && d.FreshUntil < DateTimeOffset.UtcNow.AddSeconds(9), "the device to report it");
        await Task.Delay(TimeSpan.FromSeconds(3)); // statements every 2 s keep it fresh
        Assert.Null(agent.BehindSince);

        attacker.Withholding = true;
        var v2 = await node.RegisterVersionAsync(node.CurrentWeights.Clone(), "dana", "withheld from dev-f", CancellationToken.None);
        Assert.Equal(2UL, v2.Version);

        // Statements keep arriving and naming v2's announcement, which does not: behind after the grace (2 s here).
        await Eventually.Until(() => agent.BehindSince is not null, "the device to say it is behind", 15);
        Assert.Equal(1UL, agent.ModelVersion);
        await Eventually.Until(() => node.Devices.TryGet("dev-f", out var d) && d.FreshUntil < DateTimeOffset.UtcNow, "the aggregator to see the device behind", 15);
        Assert.Equal(0, agent.Trust.Rejections);
    }

    /// <summary>Passes on everything but one topic while <see cref="Withholding"/> is set.</summary>
    private sealed class WithholdingChannels(IFleetChannelFactory inner, string topic) : IFleetChannelFactory
    {
        public volatile bool Withholding;

        public string Address => inner.Address;

        public IFleetChannel Create(FleetChannelOptions options, ILoggerFactory loggers)
        {
            var channel = inner.Create(options, loggers);
            return new Filter(channel, this, topic);
        }

        private sealed class Filter(IFleetChannel inner, WithholdingChannels owner, string topic) : DelegatingFleetChannel(inner)
        {
            protected override bool Delivers(string t, System.Buffers.ReadOnlySequence<byte> payload) => !(owner.Withholding && t == topic);
        }
    }
}
