using System.Collections.Concurrent;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Lines;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// Model lines behind Debian's Mosquitto with the generated configuration, which takes a certificate's common name as
/// the client id: each line's aggregator connects with a certificate of its own (<c>aggregator-line-{name}</c>), so it
/// never takes over the first model's session, and the ACL gives it its line and the fleet's device statuses (their
/// Last Will) — it writes nothing of the first model's or another line's, and reads of theirs only what every member reads;
/// a device has its own topics in every line, never another's.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class ModelLinesMosquittoTests : IAsyncLifetime // xUnit v2 calls IAsyncLifetime.DisposeAsync, never IAsyncDisposable's
{
    private const string Fleet = "mosql";
    private static readonly ModelSpec Kws = ModelSpec.Mlp(6, [8], 2);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgemlops-mosq-lines-" + Guid.NewGuid().ToString("N"));
    private readonly List<IAsyncDisposable> _running = [];

    private Topics Topics { get; } = new(Fleet);

    private async Task<AggregatorNode> StartFleetAsync(bool withLineHost)
    {
        var data = Path.Combine(_dir, "agg");
        var broker = await SecuredMosquitto.StartAsync(data, Fleet, Path.Combine(_dir, "mosquitto"), lines: ["kws", "other"]);
        _running.Add(broker);
        var rounds = new RoundOptions { ClientsPerRound = 1, OverSelection = 1, MinDevices = 1, LocalEpochs = 2, BatchSize = 8, LearningRate = 0.1f, ReportDeadline = TimeSpan.FromSeconds(60) };
        var kws = new AggregatorOptions
        {
            Fleet = Fleet, Line = "kws", ModelName = "kws", Model = Kws, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(data, "lines", "kws"), Rounds = rounds,
            Monitoring = new EdgeMlOps.Aggregator.Monitoring.MonitoringOptions { Window = TimeSpan.FromHours(1), Drift = new EdgeMlOps.Shared.Monitoring.DriftOptions { Method = EdgeMlOps.Shared.Monitoring.DriftMethod.Wasserstein, DistanceThreshold = 0.2 } },
            Trust = new EdgeMlOps.Aggregator.Trust.TrustOptions { RootKeyFile = Path.Combine(data, "keys", "root.pk8") },
        };
        var node = new AggregatorNode(new AggregatorOptions
        {
            Fleet = Fleet, ModelName = "m", Model = ModelSpec.Mlp(4, [6], 3), HttpUrl = "http://127.0.0.1:0", DataDirectory = data, ExternalBroker = broker.Endpoint,
            Lines = [new ModelLineOptions("kws", kws, new Dictionary<string, IReadOnlyList<string>>(), 64UL << 20)],
        });
        _running.Add(node);
        await node.StartAsync(CancellationToken.None);
        if (withLineHost) _running.Add(await ModelLineHost.StartAsync(node, NullLoggerFactory.Instance, CancellationToken.None));
        return node;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var running in Enumerable.Reverse(_running)) await running.DisposeAsync();
    }

    [Fact]
    public async Task EachModelsAggregator_KeepsItsOwnSession_AndTheLineTrainsWatchesDriftAndHearsTheLastWillThroughMosquitto()
    {
        var node = await StartFleetAsync(withLineHost: true);
        var kws = ((ModelLineHost)_running[^1])["kws"];
        var device = await LineDevice.StartAsync(node, Path.Combine(_dir, "d0"), "pump-0", new Dictionary<string, string>());
        _running.Add(device);
        await Eventually.Until(() => device.Lines["kws"] is not null, "the line started on the device", 30);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await device.Lines["kws"]!.WaitForModelAsync(1, cts.Token);

        // Mosquitto names a session by the certificate: two aggregators on one certificate would throw each other out.
        for (var i = 0; i < 30; i++)
        {
            Assert.True(node.IsBrokerConnected && kws.IsBrokerConnected, $"both aggregators connected ({i * 100} ms)");
            await Task.Delay(100);
        }

        var random = new Random(3);
        float[] Row(float shift) => [.. Enumerable.Range(0, 6).Select(f => (float)random.NextDouble() + (f < 2 ? shift : 0))];
        device.Lines["kws"]!.Feedback([.. Enumerable.Range(0, 300).Select(i => (Row(0), (long)(i % 2)))]);
        await device.Lines["kws"]!.PublishStatusAsync(CancellationToken.None);
        await Eventually.Until(() => kws.Devices.All.Any(s => s.SampleCount > 0), "the line's device reports its samples", 30);
        var report = await kws.RunRoundAsync(CancellationToken.None);
        Assert.Equal(RoundStatus.Completed, report.Status);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await device.Lines["kws"]!.WaitForModelAsync(2, cts.Token);
        Assert.Equal(1UL, node.CurrentVersion.Version);
        Assert.Equal(300, kws.Monitor.Reference(2)!.Features[0].Count); // the line's round sketched its training data: v2's reference

        // The line's monitoring: its device's window profile reaches the line's monitor, which finds features 0 and 1 moved.
        var line = device.Lines["kws"]!;
        for (var i = 0; i < 150; i++) line.Predict(Row(3));
        line.FlushProfile();
        await Eventually.Until(() => kws.ProfilesAccepted >= 1, "the line's window profile", 20);
        var now = kws.Monitor.WindowOf(DateTimeOffset.UtcNow);
        var drift = (await kws.EvaluateDriftAsync(now - 1, CancellationToken.None)).Concat(await kws.EvaluateDriftAsync(now, CancellationToken.None)).Single(r => r.Version == 2);
        Assert.Equal([0, 1], drift.DriftedFeatures.Select(f => f.Feature).Order());
        Assert.Equal(6, drift.Judged);
        Assert.Contains(kws.RecentDrift, r => r.Version == 2 && r.Drifted == 2);
        Assert.DoesNotContain(node.RecentDrift, r => r.Drifted > 0); // the first model's monitoring saw none of it

        device.Agent.Crash();
        await Eventually.Until(() => kws.Devices.All.Single(s => s.DeviceId == "pump-0").State == DeviceState.Lost, "the line hears the device's Last Will through its ACL", 20);
    }

    /// <summary>Mosquitto's ACL for model lines (patterns with <c>+</c> for the line): a device's own topics in any line, never another's; a line's aggregator its line alone.</summary>
    [Fact]
    public async Task InAModelLine_ADeviceReachesOnlyItsOwnTopics_AndTheLinesAggregatorOnlyItsLine()
    {
        var node = await StartFleetAsync(withLineHost: false);
        var (kws, other) = (Topics.ForLine("kws"), Topics.ForLine("other"));
        using var certificate = node.Security.IssueDeviceCertificate("mallory");
        var mallorySaw = new ConcurrentBag<string>();
        var mallory = new MqttTransport(new MqttTransportOptions("mallory", node.BrokerEndpoint) { CleanStart = true, Tls = new MqttTlsSettings(node.Security.Authority.Certificate, _ => certificate) });
        _running.Add(mallory);
        mallory.MessageReceived = (topic, _) =>
        {
            mallorySaw.Add(topic);
            return Task.CompletedTask;
        };
        var lineSaw = new ConcurrentBag<string>();
        var line = node.ChannelsAs(ModelLineOptions.IdentityPrefix + "kws").Create(new FleetChannelOptions("aggregator-line-check") { CleanStart = true }, NullLoggerFactory.Instance);
        _running.Add(line);
        line.MessageReceived = (topic, _) =>
        {
            lineSaw.Add(topic);
            return Task.CompletedTask;
        };
        await line.ConnectAsync(CancellationToken.None);
        await line.SubscribeAsync([$"{Topics.Prefix}/#"], CancellationToken.None); // Mosquitto delivers only what the ACL lets it read
        await mallory.ConnectAsync(CancellationToken.None);
        await mallory.SubscribeAsync([kws.Task("mallory"), kws.Model, other.Model, Topics.Model], CancellationToken.None);

        await TryPublishAsync(mallory, kws.Status("mallory"), new byte[8]);
        await TryPublishAsync(mallory, Topics.Status("mallory"), new byte[8]);
        await TryPublishAsync(mallory, kws.Update("mallory"), new byte[8]);
        await TryPublishAsync(mallory, Topics.Update("mallory"), new byte[8]); // the first model's update: not the line's to read
        await TryPublishAsync(mallory, kws.Status("victim"), new byte[8]);
        await TryPublishAsync(mallory, kws.Task("dev-m"), new byte[8]);
        await TryPublishAsync(mallory, kws.Model, new byte[8]);
        await TryPublishAsync(line, kws.Task("mallory"), new byte[8]);
        await TryPublishAsync(line, kws.Model, new byte[8]);
        await TryPublishAsync(line, other.Model, new byte[8]); // another line's statements: not this line's aggregator's to write
        await TryPublishAsync(line, Topics.Task("mallory"), new byte[8]); // nor the first model's
        await Eventually.Until(() => lineSaw.Contains(kws.Status("mallory")) && lineSaw.Contains(kws.Update("mallory")) && lineSaw.Contains(Topics.Status("mallory")) && mallorySaw.Contains(kws.Task("mallory")) && mallorySaw.Contains(kws.Model), "the device's own line topics both ways, its fleet status to the line", 10);
        await Task.Delay(500);
        Assert.DoesNotContain(kws.Status("victim"), lineSaw);
        Assert.DoesNotContain(Topics.Update("mallory"), lineSaw); // of the first model's device topics, statuses alone
        Assert.DoesNotContain(other.Model, lineSaw); // its write to another line refused (every member may read it)
        Assert.Equal(1, lineSaw.Count(t => t == kws.Model)); // the line's own; mallory's write refused
        Assert.DoesNotContain(other.Model, mallorySaw);
        Assert.DoesNotContain(Topics.Task("mallory"), mallorySaw);
    }

    /// <summary>Publishes, accepting a refusal (Mosquitto 2 answers "not authorized" to MQTT 5 clients rather than dropping silently).</summary>
    private static async Task TryPublishAsync(IFleetChannel client, string topic, byte[] payload)
    {
        try
        {
            await client.PublishAsync(topic, payload, retain: false, CancellationToken.None);
        }
        catch (Exception ex) when (ex is InvalidOperationException or MQTTnet.Exceptions.MqttCommunicationException)
        {
        }
    }
}
