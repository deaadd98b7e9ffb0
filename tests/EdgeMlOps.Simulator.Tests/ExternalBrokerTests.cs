using System.Diagnostics;
using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Broker;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// The same fleet against an external broker (Debian's Mosquitto 2), as in a scaled-out deployment.
/// <c>.ci/run</c> installs mosquitto; the test starts its own instance on a free loopback port.
/// </summary>
[Collection(FleetCollection.Name)]
public class ExternalBrokerTests
{
    private const string MosquittoPath = "/usr/sbin/mosquitto";

    [Fact]
    public async Task Fleet_OverExternalMosquitto_CompletesRounds()
    {
        Assert.True(File.Exists(MosquittoPath), "mosquitto is not installed (apt-get install mosquitto; .ci/run does this)");
        var port = EmbeddedBroker.FreePort();
        using var mosquitto = Process.Start(new ProcessStartInfo(MosquittoPath, ["-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        try
        {
            await BrokerPorts.WaitUntilListeningAsync(port);
            var options = SimulationOptions.Parse([
                "--dataset", "synthetic", "--devices", "15", "--rounds", "2", "--fraction", "0.4", "--hidden", "8",
                "--broker", $"mqtt://127.0.0.1:{port}", "--out", "-"]);
            var result = await new SimulationRunner(options).RunAsync(CancellationToken.None);

            Assert.All(result.Rounds, r =>
            {
                Assert.Equal("Completed", r.Status);
                Assert.Equal(6, r.Participants);
            });
            Assert.Equal(15, result.DevicesOnline);
            Assert.True(result.Rounds[^1].Accuracy > 0.3);
        }
        finally
        {
            mosquitto.Kill();
            await mosquitto.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task MosquittoWithTheGeneratedConfiguration_RunsTheFleetOverTls_AndIsClosedToStrangers()
    {
        Assert.True(File.Exists(MosquittoPath), "mosquitto is not installed (apt-get install mosquitto; .ci/run does this)");
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-mosq-" + Guid.NewGuid().ToString("N"));
        var port = EmbeddedBroker.FreePort();
        var options = new AggregatorOptions
        {
            Fleet = "mosq", ModelName = "m", Model = ModelSpecText.Parse("mlp-3-4-2"), HttpUrl = "http://127.0.0.1:0",
            DataDirectory = Path.Combine(dir, "agg"), ExternalBroker = new MqttEndpoint("127.0.0.1", port, Tls: true),
        };
        string config;
        using (var security = new FleetSecurity(options.DataDirectory, "mosq", options.Security, TimeProvider.System, NullLogger.Instance))
        {
            config = MosquittoConfiguration.Write(Path.Combine(dir, "mosquitto"), security, "mosq", port, [], DateTimeOffset.UtcNow, runAs: Environment.UserName);
        }

        using var mosquitto = Process.Start(new ProcessStartInfo(MosquittoPath, ["-c", config]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        try
        {
            await BrokerPorts.WaitUntilListeningAsync(port);
            await using var node = new AggregatorNode(options);
            await node.StartAsync(CancellationToken.None);
            await Eventually.Until(() => node.IsBrokerConnected, "the aggregator on Mosquitto over TLS");

            // An enrolled agent gets its model through Mosquitto.
            await using var agent = new DeviceAgent(
                new AgentOptions { DeviceId = "dev-m", Fleet = "mosq", Broker = node.BrokerEndpoint, FleetCa = node.Security.Authority.Certificate, Enrollment = Join.Enrollment(node), TrustedRoots = [node.Keys.RootPublicKey] },
                new AgentDependencies
                {
                    Store = new SampleStore(Path.Combine(dir, "dev", "agent.db"), 100, 10), Outbox = new Outbox(Path.Combine(dir, "dev", "outbox.db"), 10),
                    Models = new ModelStore(Path.Combine(dir, "dev", "models")), Http = new HttpClient(),
                });
            await agent.StartAsync(CancellationToken.None);
            using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await agent.WaitForModelAsync(1, cts.Token);
            await Eventually.Until(() => node.Devices.TryGet("dev-m", out _), "the agent's status through Mosquitto");

            // No certificate: no connection.
            await using (var anonymous = new MqttTransport(new MqttTransportOptions("anon", node.BrokerEndpoint) { CleanStart = true, Tls = new MqttTlsSettings(node.Security.Authority.Certificate, _ => null) }))
            {
                await Assert.ThrowsAnyAsync<Exception>(() => anonymous.ConnectAsync(CancellationToken.None));
            }

            // An enrolled device cannot speak for another, nor read another's messages.
            using var certificate = node.Security.IssueDeviceCertificate("mallory");
            var seen = new System.Collections.Concurrent.ConcurrentBag<string>();
            await using var mallory = new MqttTransport(new MqttTransportOptions("mallory", node.BrokerEndpoint) { CleanStart = true, Tls = new MqttTlsSettings(node.Security.Authority.Certificate, _ => certificate) })
            {
                MessageReceived = (topic, _) => { seen.Add(topic); return Task.CompletedTask; },
            };
            await mallory.ConnectAsync(CancellationToken.None);
            await mallory.SubscribeAsync(["#"], CancellationToken.None);
            var forged = new EdgeMlOps.Shared.Protocol.V1.DeviceStatus
            {
                Header = EdgeMlOps.Shared.Protocol.ProtocolInfo.NewHeader("mosq", "victim", 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()),
                State = EdgeMlOps.Shared.Protocol.V1.DeviceState.Online, SampleCount = 1_000_000,
            };
            try
            {
                await mallory.PublishAsync("edgemlops/v1/mosq/devices/victim/status", Google.Protobuf.MessageExtensions.ToByteArray(forged), retain: false, CancellationToken.None);
            }
            catch (InvalidOperationException)
            {
                // Mosquitto may answer "not authorized" instead of dropping silently.
            }

            agent.FlushProfile();
            await Task.Delay(1500);
            Assert.False(node.Devices.TryGet("victim", out _), "a status in another device's name must not reach the aggregator");
            Assert.DoesNotContain(seen, t => t.Contains("/devices/dev-m/", StringComparison.Ordinal));
        }
        finally
        {
            mosquitto.Kill();
            await mosquitto.WaitForExitAsync();
        }
    }
}
