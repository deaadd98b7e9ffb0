using System.Collections.Concurrent;
using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Runtime.Security;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using Google.Protobuf;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// The hostile-client suite (HostileClientTests runs it against the embedded broker) against Debian's Mosquitto with the
/// generated configuration: an attacker holding a certificate from another CA, an enrolled device trying another's
/// client id, topics, tasks and retained statements, an oversized packet, and a revoked device.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class MosquittoHostileTests : IAsyncLifetime
{
    private const string Fleet = "mosqh";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgemlops-mosq-hostile-" + Guid.NewGuid().ToString("N"));
    private SecuredMosquitto _broker = null!;
    private AggregatorNode _node = null!;
    private DeviceAgent _agent = null!;
    private readonly List<IDisposable> _stores = [];

    private Topics Topics { get; } = new(Fleet);

    public async Task InitializeAsync()
    {
        var data = Path.Combine(_dir, "agg");
        _broker = await SecuredMosquitto.StartAsync(data, Fleet, Path.Combine(_dir, "mosquitto"));
        _node = new AggregatorNode(new AggregatorOptions
        {
            Fleet = Fleet, ModelName = "m", Model = ModelSpecText.Parse("mlp-3-4-2"), HttpUrl = "http://127.0.0.1:0", DataDirectory = data, ExternalBroker = _broker.Endpoint,
        });
        await _node.StartAsync(CancellationToken.None);
        await Eventually.Until(() => _node.IsBrokerConnected, "the aggregator on Mosquitto over TLS");
        var (samples, outbox) = (new SampleStore(Path.Combine(_dir, "dev", "agent.db"), 100, 10), new Outbox(Path.Combine(_dir, "dev", "outbox.db"), 10));
        _stores.AddRange([samples, outbox]);
        _agent = new DeviceAgent(
            new AgentOptions { DeviceId = "dev-m", Fleet = Fleet, Broker = _node.BrokerEndpoint, FleetCa = _node.Security.Authority.Certificate, Enrollment = Join.Enrollment(_node), TrustedRoots = [_node.Keys.RootPublicKey] },
            new AgentDependencies { Store = samples, Outbox = outbox, Models = new ModelStore(Path.Combine(_dir, "dev", "models")), Http = new HttpClient() });
        await _agent.StartAsync(CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _agent.WaitForModelAsync(1, cts.Token);
        await Eventually.Until(() => _node.Devices.TryGet("dev-m", out _), "the agent's status through Mosquitto");
    }

    public async Task DisposeAsync()
    {
        await _agent.DisposeAsync();
        await _node.DisposeAsync();
        await _broker.DisposeAsync();
        foreach (var store in _stores) store.Dispose();
    }

    private MqttTransport Client(string clientId, Func<string, System.Security.Cryptography.X509Certificates.X509Certificate2?> certificate) =>
        new(new MqttTransportOptions(clientId, _node.BrokerEndpoint) { CleanStart = true, Tls = new MqttTlsSettings(_node.Security.Authority.Certificate, certificate) });

    /// <summary>Publishes, accepting a refusal (Mosquitto 2 answers "not authorized" to MQTT 5 clients rather than dropping silently).</summary>
    private static async Task TryPublishAsync(MqttTransport client, string topic, byte[] payload, bool retain = false)
    {
        try
        {
            await client.PublishAsync(topic, payload, retain, CancellationToken.None);
        }
        catch (Exception ex) when (ex is InvalidOperationException or MQTTnet.Exceptions.MqttCommunicationException)
        {
        }
    }

    [Fact]
    public async Task ACertificateFromAnotherCa_CannotConnect()
    {
        using var rogueCa = new FleetCertificateAuthority(Path.Combine(_dir, "rogue"), Fleet, DateTimeOffset.UtcNow);
        using var forged = rogueCa.IssueClientWithKey(new FleetIdentity("dev-m", FleetRole.Device, Fleet), DateTimeOffset.UtcNow, TimeSpan.FromDays(1));
        await using var client = Client("dev-m", _ => forged);
        await Assert.ThrowsAnyAsync<Exception>(() => client.ConnectAsync(CancellationToken.None));
        Assert.True(_agent.IsConnected, "the real device is still connected");
    }

    [Fact]
    public async Task AnEnrolledDevice_AskingForAnotherDevicesClientId_DoesNotTakeOverItsSession()
    {
        using var certificate = _node.Security.IssueDeviceCertificate("mallory");
        await using var mallory = Client("dev-m", _ => certificate); // Mosquitto uses the certificate's name as client id
        await mallory.ConnectAsync(CancellationToken.None);
        await Task.Delay(1000);
        Assert.True(_agent.IsConnected, "a client id taken over would have disconnected the real device");
    }

    [Fact]
    public async Task AnEnrolledDevice_CannotReadOthers_NorWriteAsThemOrAsTheAggregator()
    {
        using var certificate = _node.Security.IssueDeviceCertificate("mallory");
        var seen = new ConcurrentBag<string>();
        await using var mallory = Client("mallory", _ => certificate);
        mallory.MessageReceived = (topic, _) =>
        {
            seen.Add(topic);
            return Task.CompletedTask;
        };
        await mallory.ConnectAsync(CancellationToken.None);
        await mallory.SubscribeAsync(["#"], CancellationToken.None);
        var status = new EdgeMlOps.Shared.Protocol.V1.DeviceStatus { Header = ProtocolInfo.NewHeader(Fleet, "victim", 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), State = EdgeMlOps.Shared.Protocol.V1.DeviceState.Online, SampleCount = 1_000_000 };
        var rejectedBefore = _node.Rejections.Total;

        await TryPublishAsync(mallory, Topics.Status("victim"), status.ToByteArray());
        await TryPublishAsync(mallory, Topics.Update("dev-m"), new byte[64]); // answering another device's task
        await TryPublishAsync(mallory, Topics.Task("dev-m"), new byte[64]); // tasking a device as the aggregator
        await TryPublishAsync(mallory, Topics.Model, new byte[64], retain: true); // vandalising the retained announcement
        _agent.FlushProfile();
        await Task.Delay(1500);

        Assert.False(_node.Devices.TryGet("victim", out _), "a status in another device's name reached the aggregator");
        Assert.Equal(rejectedBefore, _node.Rejections.Total); // nothing of mallory's reached the aggregator to be refused there
        Assert.DoesNotContain(seen, t => t.Contains("/devices/dev-m/", StringComparison.Ordinal));

        // A device joining now still reads the aggregator's announcement, not the vandal's bytes.
        using var newcomer = _node.Security.IssueDeviceCertificate("newcomer");
        var announcement = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var reader = Client("newcomer", _ => newcomer);
        reader.MessageReceived = (topic, payload) =>
        {
            if (topic == Topics.Model) announcement.TrySetResult(System.Buffers.BuffersExtensions.ToArray(payload));
            return Task.CompletedTask;
        };
        await reader.ConnectAsync(CancellationToken.None);
        await reader.SubscribeAsync([Topics.Model], CancellationToken.None);
        var bytes = await announcement.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1UL, EdgeMlOps.Shared.Protocol.V1.ModelAnnouncement.Parser.ParseFrom(bytes).Version);
    }

    [Fact]
    public async Task AReplicasCertificate_ReadsDeviceUpdatesThroughTheSharedSubscription_AndNothingElse()
    {
        var name = EdgeMlOps.Aggregator.Replicas.ReplicaOptions.IdentityPrefix + SecuredMosquitto.Replica;
        using var certificate = _node.Security.Authority.IssueClientWithKey(new FleetIdentity(name, FleetRole.Aggregator, Fleet), DateTimeOffset.UtcNow, TimeSpan.FromDays(1));
        var updates = new ConcurrentBag<string>();
        await using var replica = Client(name, _ => certificate);
        replica.MessageReceived = (topic, _) =>
        {
            updates.Add(topic);
            return Task.CompletedTask;
        };
        await replica.ConnectAsync(CancellationToken.None);
        await replica.SubscribeAsync([EdgeMlOps.Aggregator.Replicas.ReplicaOptions.Shared(Topics.AllDevices("update"))], CancellationToken.None);

        // A device's update reaches the replica (the only member of the share group here).
        using var deviceCertificate = _node.Security.IssueDeviceCertificate("dev-u");
        await using (var device = Client("dev-u", _ => deviceCertificate))
        {
            await device.ConnectAsync(CancellationToken.None);
            await device.PublishAsync(Topics.Update("dev-u"), new byte[16], retain: false, CancellationToken.None);
            await Eventually.Until(() => updates.Contains(Topics.Update("dev-u")), "the update through the shared subscription");
        }

        // Nothing else of a device's: subscribed to everything, it gets the statements every fleet member reads (the
        // retained announcement, rollout, trust, timestamp and the catalogue of model lines) but no profile, status or task (Mosquitto grants the
        // subscription and withholds what the ACL does not let it read).
        await replica.SubscribeAsync([Topics.Prefix + "/#"], CancellationToken.None);
        _agent.FlushProfile();
        await Task.Delay(1500);
        string[] everyonesStatements = [Topics.Model, Topics.Rollout, Topics.Trust, Topics.Timestamp, Topics.Catalogue];
        Assert.All(updates, topic => Assert.True(topic.EndsWith("/update", StringComparison.Ordinal) || everyonesStatements.Contains(topic), topic));
        Assert.Contains(Topics.Model, updates);

        // It cannot task a device either.
        var rejectedBefore = _node.Rejections.Total;
        await TryPublishAsync(replica, Topics.Task("dev-m"), new byte[64]);
        await TryPublishAsync(replica, Topics.Status("dev-m"), new byte[64]);
        await Task.Delay(500);
        Assert.Equal(rejectedBefore, _node.Rejections.Total); // nothing of it reached the aggregator
        Assert.True(_agent.IsConnected);
    }

    [Fact]
    public async Task APacketBeyondTheLimit_IsRefusedByTheBroker_AndTheSenderDisconnected()
    {
        using var certificate = _node.Security.IssueDeviceCertificate("mallory");
        await using var mallory = Client("mallory", _ => certificate);
        await mallory.ConnectAsync(CancellationToken.None);
        await TryPublishAsync(mallory, Topics.Update("mallory"), new byte[MosquittoConfiguration.MaxPacketBytes + 1024]);
        await Eventually.Until(() => !mallory.IsConnected, "the oversized sender disconnected");
        Assert.True(_agent.IsConnected);
    }

    [Fact]
    public async Task ARevokedDevice_IsRefusedAfterTheBrokerReloadsItsCrl()
    {
        using var certificate = _node.Security.IssueDeviceCertificate("stolen");
        await using (var before = Client("stolen", _ => certificate))
        {
            await before.ConnectAsync(CancellationToken.None); // valid until revoked
        }

        await _node.RevokeDeviceAsync("stolen", "reported stolen", "alice");
        _broker.Reload(_node.Security);
        await Task.Delay(500);
        await using var after = Client("stolen", _ => certificate);
        await Assert.ThrowsAnyAsync<Exception>(() => after.ConnectAsync(CancellationToken.None));
    }
}
