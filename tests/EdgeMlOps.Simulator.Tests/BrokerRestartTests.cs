using System.Diagnostics;
using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// Chaos: the external broker (Debian's Mosquitto, without persistence, as after a crash between autosaves) is
/// killed and started again. Retained statements die with it; the aggregator must put its own back so a device
/// joining afterwards still gets the fleet's model, and a device holding an update in its outbox delivers it once.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class BrokerRestartTests : IAsyncLifetime
{
    private const string MosquittoPath = "/usr/sbin/mosquitto";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgemlops-restart-" + Guid.NewGuid().ToString("N"));
    private readonly int _port = BrokerPorts.Free();
    private Process? _mosquitto;

    private Process StartMosquitto() =>
        Process.Start(new ProcessStartInfo(MosquittoPath, ["-p", _port.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { RedirectStandardError = true, RedirectStandardOutput = true })!;

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Stops the test's broker (xunit 2 calls this for <see cref="IAsyncLifetime"/>, not for IAsyncDisposable: each CI run left two brokers behind).</summary>
    public async Task DisposeAsync()
    {
        if (_mosquitto is { HasExited: false } m)
        {
            m.Kill();
            await m.WaitForExitAsync();
        }

        _mosquitto?.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private DeviceAgent Agent(AggregatorNode node, string id, SemaphoreSlim? computeSlots = null) => new(
        new AgentOptions { DeviceId = id, Fleet = node.Options.Fleet, Broker = node.BrokerEndpoint, TrustedRoots = [node.Keys.RootPublicKey] },
        new AgentDependencies
        {
            Store = new SampleStore(Path.Combine(_dir, id, "agent.db"), 1000, 10),
            Outbox = new Outbox(Path.Combine(_dir, id, "outbox.db"), 100),
            Models = new ModelStore(Path.Combine(_dir, id, "models")),
            Http = new HttpClient(),
            ComputeSlots = computeSlots,
        });

    private AggregatorOptions Options() => new()
    {
        Fleet = "chaos", ModelName = "m", Model = ModelSpecText.Parse("mlp-3-4-2"), HttpUrl = "http://127.0.0.1:0",
        DataDirectory = Path.Combine(_dir, "agg"), ExternalBroker = new MqttEndpoint("127.0.0.1", _port),
        Security = new SecurityOptions { AllowPlaintext = true },
        Rounds = new RoundOptions { ClientsPerRound = 1, OverSelection = 1, MinQuorum = 1, ReportDeadline = TimeSpan.FromSeconds(90) },
    };

    /// <summary>Kills the broker and starts an empty one on the same port (no persistence: retained messages and sessions are gone).</summary>
    private async Task RestartBrokerAsync(Func<Task> whileDown)
    {
        _mosquitto!.Kill();
        await _mosquitto.WaitForExitAsync();
        _mosquitto.Dispose();
        await whileDown();
        _mosquitto = StartMosquitto();
        await BrokerPorts.WaitUntilListeningAsync(_port);
    }

    [Fact]
    public async Task AnUpdateMadeWhileTheBrokerIsDown_WaitsInTheOutbox_AndIsCountedOnceAfterTheRestart()
    {
        Assert.True(File.Exists(MosquittoPath), "mosquitto is not installed (apt-get install mosquitto; .ci/run does this)");
        _mosquitto = StartMosquitto();
        await BrokerPorts.WaitUntilListeningAsync(_port);
        await using var node = new AggregatorNode(Options());
        await node.StartAsync(CancellationToken.None);
        using var compute = new SemaphoreSlim(0); // the device may not train until the broker is gone
        await using var agent = Agent(node, "dev-1", compute);
        await agent.StartAsync(CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await agent.WaitForModelAsync(1, cts.Token);
        agent.Feedback(Enumerable.Range(0, 40).Select(i => (new[] { i % 3f, i % 5f, 1f }, (long)(i % 2))).ToList());
        await Eventually.Until(() => node.Devices.TryGet("dev-1", out var d) && d.SampleCount == 40, "the device's samples known to the aggregator");

        var round = node.RunRoundAsync(CancellationToken.None);
        await Eventually.Until(() => agent.Counters.TasksReceived == 1, "the task to reach the device");
        await RestartBrokerAsync(async () =>
        {
            await Eventually.Until(() => !agent.IsConnected, "the device to notice the broker is gone");
            compute.Release();
            await Eventually.Until(() => agent.Counters.UpdatesProduced == 1, "the update made offline");
            Assert.Equal(1, agent.OutboxPending);
        });

        var report = await round.WaitAsync(TimeSpan.FromSeconds(120));
        Assert.True(report.Status == EdgeMlOps.Aggregator.Rounds.RoundStatus.Completed,
            $"round {report.Status}: outbox pending {agent.OutboxPending}, sent {agent.Counters.OutboxSent}, device connected {agent.IsConnected}, aggregator connected {node.IsBrokerConnected}, rejections {string.Join(", ", node.Rejections.Snapshot().Select(r => $"{r.Key}={r.Value}"))}");
        Assert.Equal(1, report.Contributors);

        // The round can complete before the broker's acknowledgement reaches the device (which then removes the update).
        await Eventually.Until(() => agent.OutboxPending == 0, "the device's outbox to drain after the acknowledgement");
        Assert.DoesNotContain(node.Rejections.Snapshot(), r => r.Value > 0);
        Assert.Equal(2UL, node.CurrentVersion.Version);
    }

    [Fact]
    public async Task AfterABrokerRestart_TheAggregatorRestoresItsRetainedStatements_AndANewDeviceGetsTheModel()
    {
        Assert.True(File.Exists(MosquittoPath), "mosquitto is not installed (apt-get install mosquitto; .ci/run does this)");
        _mosquitto = StartMosquitto();
        await BrokerPorts.WaitUntilListeningAsync(_port);
        var options = new AggregatorOptions
        {
            Fleet = "chaos", ModelName = "m", Model = ModelSpecText.Parse("mlp-3-4-2"), HttpUrl = "http://127.0.0.1:0",
            DataDirectory = Path.Combine(_dir, "agg"), ExternalBroker = new MqttEndpoint("127.0.0.1", _port),
            Security = new SecurityOptions { AllowPlaintext = true },
        };
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        await using var first = Agent(node, "dev-1");
        await first.StartAsync(CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await first.WaitForModelAsync(1, cts.Token);

        // The broker dies and comes back empty: no retained announcement, trust bundle or plan.
        _mosquitto.Kill();
        await _mosquitto.WaitForExitAsync();
        _mosquitto.Dispose();
        await Eventually.Until(() => !node.IsBrokerConnected, "the aggregator to notice the broker is gone");
        _mosquitto = StartMosquitto();
        await BrokerPorts.WaitUntilListeningAsync(_port);
        await Eventually.Until(() => node.IsBrokerConnected && first.IsConnected, "both to reconnect", 60);

        // A device that joins now learns the fleet's model from the retained announcement the aggregator restored.
        await using var second = Agent(node, "dev-2");
        await second.StartAsync(CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await second.WaitForModelAsync(1, cts.Token);
        Assert.Equal(node.CurrentVersion.Version, second.ModelVersion);
        await Eventually.Until(() => node.Devices.TryGet("dev-2", out _), "the new device's status");
    }
}
