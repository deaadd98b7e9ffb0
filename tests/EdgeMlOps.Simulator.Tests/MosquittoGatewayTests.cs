using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Runtime.Security;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// An edge gateway whose fleet runs behind Debian's Mosquitto with the configuration <c>--write-mosquitto-config</c>
/// writes: the gateway's certificate (common name <c>gateway-{id}</c>) may publish only its own partials and its own
/// devices' relays — a prefix as the devices enrolled under it when the configuration was written — and it reads the
/// fleet's revocation list there, so a device revoked at the aggregator is dropped from its site's broker. In every model
/// line it relays its own devices' messages (updates one by one) and reads their tasks.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class MosquittoGatewayTests
{
    private const string Fleet = "mosqg";
    private static readonly Topics Topics = new(Fleet);

    private static readonly Topics Kws = Topics.ForLine("kws");

    private static byte[] Status(string deviceId) =>
        new DeviceStatus { Header = ProtocolInfo.NewHeader(Fleet, deviceId, 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), State = DeviceState.Online, SampleCount = 10 }.ToByteArray();

    [Fact]
    public async Task AGatewayBehindMosquitto_RelaysOnlyItsOwnDevices_AndDropsTheDevicesTheFleetRevokes()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-mosq-gateway-" + Guid.NewGuid().ToString("N"));
        var data = Path.Combine(dir, "agg");
        var edge = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["dev-a1", "dev-p*"] } };
        await using var broker = await SecuredMosquitto.StartAsync(data, Fleet, Path.Combine(dir, "mosquitto"), edge, lines: ["kws"]);
        var options = new AggregatorOptions
        {
            Fleet = Fleet, ModelName = "m", Model = ModelSpecText.Parse("mlp-3-4-2"), HttpUrl = "http://127.0.0.1:0", DataDirectory = data, ExternalBroker = broker.Endpoint, Edge = edge,
        };
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        await Eventually.Until(() => node.IsBrokerConnected, "the aggregator on Mosquitto over TLS");
        var credentials = Path.Combine(dir, "site-a");
        GatewayCredentials.Write(node.Security, node.Keys.RootPublicKey, "site-a", credentials, [], DateTimeOffset.UtcNow);

        // The gateway's certificate at Mosquitto: its partials and its devices' statuses; never an update in a device's
        // name, another site's device, a prefix device not enrolled when the ACL was written, or another gateway's partial.
        using (var identity = GatewayCredentials.Load(credentials))
        {
            await using var gateway = new MqttTransport(new MqttTransportOptions(FleetIdentity.GatewayClientId("site-a"), broker.Endpoint)
            {
                CleanStart = true, Tls = new MqttTlsSettings(identity.FleetCa, _ => identity.Client),
            });
            await gateway.ConnectAsync(CancellationToken.None);
            await gateway.PublishAsync(Topics.Status("dev-a1"), Status("dev-a1"), retain: false, CancellationToken.None);
            await gateway.PublishAsync(Topics.GatewayPartial("site-a"), [1], retain: false, CancellationToken.None);
            foreach (var topic in new[] { Topics.Update("dev-a1"), Topics.Status("dev-b1"), Topics.Status("dev-p1"), Topics.GatewayPartial("site-b"), Kws.Update("dev-b1"), Kws.Task("dev-a1"), Kws.GatewayPartial("site-b") })
            {
                var refused = await Assert.ThrowsAsync<BrokerRefusedException>(() => gateway.PublishAsync(topic, [1], retain: false, CancellationToken.None));
                Assert.Contains("NotAuthorized", refused.Message, StringComparison.Ordinal);
            }

            // In a model line its devices' messages go up as sent, updates included, or its own partials; it reads their line tasks.
            foreach (var topic in new[] { Kws.Status("dev-a1"), Kws.Update("dev-a1"), Kws.Evaluation("dev-a1"), Kws.Profile("dev-a1"), Kws.GatewayPartial("site-a") }) await gateway.PublishAsync(topic, [1], retain: false, CancellationToken.None);
            // Mosquitto grants any subscription and withholds what the ACL does not let a client read: the line's aggregator
            // tasks a device of the site and one of another's, and only the first reaches the gateway.
            var read = new System.Collections.Concurrent.ConcurrentQueue<string>();
            gateway.MessageReceived = (topic, _) =>
            {
                read.Enqueue(topic);
                return Task.CompletedTask;
            };
            await gateway.SubscribeAsync([Kws.Task("dev-a1"), Kws.Task("dev-b1")], CancellationToken.None);
            await using (var line = node.ChannelsAs(EdgeMlOps.Aggregator.Lines.ModelLineOptions.IdentityPrefix + "kws").Create(new EdgeMlOps.Runtime.Channels.FleetChannelOptions("aggregator-line-kws"), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance))
            {
                await line.ConnectAsync(CancellationToken.None);
                await line.PublishAsync(Kws.Task("dev-b1"), [2], retain: false, CancellationToken.None);
                await line.PublishAsync(Kws.Task("dev-a1"), [1], retain: false, CancellationToken.None);
            }

            await Eventually.Until(() => read.Contains(Kws.Task("dev-a1")), "the site device's line task at the gateway");
            Assert.DoesNotContain(Kws.Task("dev-b1"), read);
        }

        // dev-p1 enrolls; the configuration is written again and Mosquitto reloads it (SIGHUP), as OPERATIONS.md says.
        var certificates = new[] { "dev-a1", "dev-p1" }.ToDictionary(id => id, node.Security.IssueDeviceCertificate);
        broker.Reload(node.Security);

        var gatewayOptions = options with
        {
            DataDirectory = Path.Combine(dir, "gateway"), ExternalBroker = null, EmbeddedBrokerPort = 0,
            Edge = edge with { Gateway = "site-a", Upstream = broker.Endpoint, Credentials = credentials },
        };
        await using var host = new EdgeGatewayHost(gatewayOptions, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        await host.StartAsync(CancellationToken.None);
        var devices = new List<MqttTransport>();
        try
        {
            foreach (var id in certificates.Keys)
            {
                var device = new MqttTransport(new MqttTransportOptions(id, host.SiteEndpoint) { CleanStart = true, Tls = new MqttTlsSettings(node.Security.Authority.Certificate, _ => certificates[id]) });
                devices.Add(device);
                await device.ConnectAsync(CancellationToken.None);
                await device.PublishAsync(Topics.Status(id), Status(id), retain: false, CancellationToken.None);
            }

            await Eventually.Until(() => node.Devices.Eligible().Count == 2, "both site devices' statuses relayed through Mosquitto");

            // Revoked at the aggregator: the signed list reaches the gateway through Mosquitto, and the site's broker drops the device.
            await node.RevokeDeviceAsync("dev-p1", "stolen", "alice");
            await Eventually.Until(() => host.Events!.Count(SecurityEventKind.DeviceRevoked) == 1 && !devices[1].IsConnected, "the site's broker to drop the revoked device");
            Assert.True(devices[0].IsConnected);
            Assert.Equal(0, host.Gateway!.Rejections.Total);

            // The configuration written again after the revocation: the gateway may no longer speak for dev-p1 at Mosquitto.
            broker.Reload(node.Security);
            var acl = File.ReadAllText(Path.Combine(dir, "mosquitto", "acl"));
            Assert.Contains($"user gateway-site-a\ntopic write {Topics.GatewayPartial("site-a")}", acl, StringComparison.Ordinal);
            Assert.Contains($"topic write {Topics.Status("dev-a1")}", acl, StringComparison.Ordinal);
            Assert.DoesNotContain("/devices/dev-p1/", acl, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var device in devices) await device.DisposeAsync();
        }
    }
}
