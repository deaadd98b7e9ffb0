using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// The same fleet against an external broker (Debian's Mosquitto 2), as in a scaled-out deployment.
/// <c>.ci/run</c> installs mosquitto; the test starts its own instance on a free loopback port.
/// </summary>
[Collection(FleetCollection.Name)]
public class ExternalBrokerTests
{
    [Fact]
    public async Task Fleet_OverExternalMosquitto_CompletesRounds()
    {
        await using var mosquitto = await PlainMosquitto.StartAsync();
        var options = SimulationOptions.Parse([
            "--dataset", "synthetic", "--devices", "15", "--rounds", "2", "--fraction", "0.4", "--hidden", "8",
            "--broker", mosquitto.Url, "--out", "-"]);
        var result = await new SimulationRunner(options).RunAsync(CancellationToken.None);

        Assert.All(result.Rounds, r =>
        {
            Assert.Equal("Completed", r.Status);
            Assert.Equal(6, r.Participants);
        });
        Assert.Equal(15, result.DevicesOnline);
        Assert.True(result.Rounds[^1].Accuracy > 0.3);
    }

    [Fact]
    public async Task MosquittoWithTheGeneratedConfiguration_RunsTheFleetOverTls_AndIsClosedToStrangers()
    {
        // The attacks one by one against this broker: MosquittoHostileTests.
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-mosq-" + Guid.NewGuid().ToString("N"));
        await using var broker = await SecuredMosquitto.StartAsync(Path.Combine(dir, "agg"), "mosq", Path.Combine(dir, "mosquitto"));
        await using var node = new AggregatorNode(new AggregatorOptions
        {
            Fleet = "mosq", ModelName = "m", Model = ModelSpecText.Parse("mlp-3-4-2"), HttpUrl = "http://127.0.0.1:0",
            DataDirectory = Path.Combine(dir, "agg"), ExternalBroker = broker.Endpoint,
        });
        await node.StartAsync(CancellationToken.None);
        await Eventually.Until(() => node.IsBrokerConnected, "the aggregator on Mosquitto over TLS");

        // An enrolled agent gets its model through Mosquitto.
        using var samples = new SampleStore(Path.Combine(dir, "dev", "agent.db"), 100, 10);
        using var outbox = new Outbox(Path.Combine(dir, "dev", "outbox.db"), 10);
        await using var agent = new DeviceAgent(
            new AgentOptions { DeviceId = "dev-m", Fleet = "mosq", Broker = node.BrokerEndpoint, FleetCa = node.Security.Authority.Certificate, Enrollment = Join.Enrollment(node), TrustedRoots = [node.Keys.RootPublicKey] },
            new AgentDependencies { Store = samples, Outbox = outbox, Models = new ModelStore(Path.Combine(dir, "dev", "models")), Http = new HttpClient() });
        await agent.StartAsync(CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await agent.WaitForModelAsync(1, cts.Token);
        await Eventually.Until(() => node.Devices.TryGet("dev-m", out _), "the agent's status through Mosquitto");

        // No certificate: no connection.
        await using var anonymous = new MqttTransport(new MqttTransportOptions("anon", node.BrokerEndpoint) { CleanStart = true, Tls = new MqttTlsSettings(node.Security.Authority.Certificate, _ => null) });
        await Assert.ThrowsAnyAsync<Exception>(() => anonymous.ConnectAsync(CancellationToken.None));
    }
}
