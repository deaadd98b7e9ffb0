using System.Diagnostics;
using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>Whatever a task asks, a device works within its own policy, and a stop interrupts training.</summary>
[Collection(FleetCollection.Name)]
public class TaskPolicyTests
{
    private static async Task<AggregatorNode> StartNodeAsync(string dir)
    {
        var node = new AggregatorNode(new AggregatorOptions
        {
            Fleet = "policy", ModelName = "m", Model = ModelSpecText.Parse("mlp-8-16-3"), EmbeddedBrokerPort = 0,
            HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
            Rounds = new RoundOptions { ClientsPerRound = 1, OverSelection = 1, LocalEpochs = 1, BatchSize = 1, ReportDeadline = TimeSpan.FromSeconds(30) },
        });
        await node.StartAsync(CancellationToken.None);
        return node;
    }

    private static async Task<DeviceAgent> StartAgentAsync(string dir, AggregatorNode node, int maxEpochs)
    {
        var agent = new DeviceAgent(
            new AgentOptions
            {
                DeviceId = "dev-1", Fleet = "policy", Broker = node.BrokerEndpoint, FleetCa = node.Security.Authority.Certificate, Enrollment = Join.Enrollment(node),
                TrustedRoots = [node.Keys.RootPublicKey], MaxLocalEpochs = maxEpochs,
            },
            new AgentDependencies
            {
                Store = new SampleStore(Path.Combine(dir, "dev", "agent.db"), 1000, 100),
                Outbox = new Outbox(Path.Combine(dir, "dev", "outbox.db"), 10),
                Models = new ModelStore(Path.Combine(dir, "dev", "models")),
                Http = new HttpClient(),
            });
        var random = new Random(3);
        agent.Feedback(Enumerable.Range(0, 300).Select(i => (Enumerable.Range(0, 8).Select(_ => (float)random.NextDouble()).ToArray(), (long)(i % 3))).ToArray());
        await agent.StartAsync(CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await agent.WaitForModelAsync(1, cts.Token);
        await Eventually.Until(() => node.Devices.Eligible().Count == 1, "the device to be eligible");
        return agent;
    }

    /// <summary>
    /// A validly signed task asking for <paramref name="epochs"/> (more than any aggregator configuration allows: what a
    /// compromised aggregator key could send), published on the aggregator's own broker account.
    /// </summary>
    private static async Task SendSignedTaskAsync(AggregatorNode node, uint epochs, TimeSpan deadline, Action<EdgeMlOps.Shared.Protocol.V1.RoundTask>? change = null)
    {
        var task = new EdgeMlOps.Shared.Protocol.V1.RoundTask
        {
            Header = EdgeMlOps.Shared.Protocol.ProtocolInfo.NewHeader("policy", "aggregator-policy", 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()),
            RoundId = "greedy-" + epochs, ModelName = "m", BaseVersion = 1, DeviceId = "dev-1", DeadlineUnixMs = DateTimeOffset.UtcNow.Add(deadline).ToUnixTimeMilliseconds(),
            Config = new EdgeMlOps.Shared.Protocol.V1.TrainConfig { LocalEpochs = epochs, BatchSize = 1, LearningRate = 0.1f },
        };
        change?.Invoke(task);
        await using var sender = new EdgeMlOps.Runtime.Mqtt.MqttTransport(new EdgeMlOps.Runtime.Mqtt.MqttTransportOptions("aggregator-sender", node.BrokerEndpoint) { CleanStart = true, Tls = node.Security.ClientTls });
        await sender.ConnectAsync(CancellationToken.None);
        await sender.PublishAsync(new EdgeMlOps.Shared.Protocol.Topics("policy").Task("dev-1"), Google.Protobuf.MessageExtensions.ToByteArray(node.Keys.Sign(task)), retain: false, CancellationToken.None);
    }

    private static string TempDirectory() => Path.Combine(Path.GetTempPath(), "edgemlops-policy-" + Guid.NewGuid().ToString("N"));

    /// <summary>
    /// Times in a signed task that no date can hold (a broken or compromised aggregator's) once threw inside the agent: a
    /// deadline past any date failed the task before the worker could catch it. The device reads them at the nearest date
    /// and works within its own cap: no deadline then, and a start at once.
    /// </summary>
    [Theory]
    [InlineData(long.MaxValue, long.MinValue)]
    [InlineData(long.MaxValue, 0L)]
    public async Task ATaskWhoseTimesNoDateHolds_IsWorkedWithinTheDevicesOwnCap(long deadlineUnixMs, long startAfterUnixMs)
    {
        var dir = TempDirectory();
        await using var node = await StartNodeAsync(dir);
        await using var agent = await StartAgentAsync(dir, node, maxEpochs: 100);
        await SendSignedTaskAsync(node, epochs: 1, TimeSpan.Zero, t => (t.DeadlineUnixMs, t.StartAfterUnixMs) = (deadlineUnixMs, startAfterUnixMs));
        await Eventually.Until(() => Interlocked.Read(ref agent.Counters.UpdatesProduced) == 1, "the task trained", 20);
    }

    [Fact]
    public async Task ATaskThatMayStartOnlyAfterAnyDate_IsNotWorked_AndTheAgentGoesOn()
    {
        var dir = TempDirectory();
        await using var node = await StartNodeAsync(dir);
        await using var agent = await StartAgentAsync(dir, node, maxEpochs: 100);
        await SendSignedTaskAsync(node, epochs: 1, TimeSpan.FromSeconds(2), t => t.StartAfterUnixMs = long.MaxValue);
        await Eventually.Until(() => Interlocked.Read(ref agent.Counters.TasksReceived) == 1, "the task received", 20);
        await Task.Delay(2500); // past its deadline
        Assert.Equal(0, Interlocked.Read(ref agent.Counters.UpdatesProduced));

        // The next real round trains.
        var round = await node.RunRoundAsync(CancellationToken.None);
        Assert.Equal((RoundStatus.Completed, 1), (round.Status, round.Contributors));
    }

    [Fact]
    public async Task TaskAskingMoreEpochsThanThePolicyAllows_IsRefusedAtOnce()
    {
        var dir = TempDirectory();
        await using var node = await StartNodeAsync(dir);
        await using var agent = await StartAgentAsync(dir, node, maxEpochs: 100);
        var clock = Stopwatch.StartNew();
        await SendSignedTaskAsync(node, epochs: 100_000, TimeSpan.FromSeconds(5));
        await Eventually.Until(() => Interlocked.Read(ref agent.Counters.TasksSkipped) == 1, "the task to be refused", 10);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"refused after {clock.Elapsed}");
        Assert.Equal(0, Interlocked.Read(ref agent.Counters.UpdatesProduced));
    }

    [Fact]
    public async Task ForgedTask_OrATaskSignedForAnotherDevice_IsRefused_AndReported()
    {
        var dir = TempDirectory();
        await using var node = await StartNodeAsync(dir);
        await using var agent = await StartAgentAsync(dir, node, maxEpochs: 100);
        var topic = new EdgeMlOps.Shared.Protocol.Topics("policy").Task("dev-1");
        var task = new EdgeMlOps.Shared.Protocol.V1.RoundTask
        {
            Header = EdgeMlOps.Shared.Protocol.ProtocolInfo.NewHeader("policy", "aggregator-policy", 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()),
            RoundId = "forged", ModelName = "m", BaseVersion = 1, DeviceId = "dev-1", DeadlineUnixMs = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds(),
            Config = new EdgeMlOps.Shared.Protocol.V1.TrainConfig { LocalEpochs = 50, BatchSize = 1, LearningRate = 0.1f },
        };

        // Whoever reaches the task topic (a compromised broker account): an unsigned task, then a genuinely signed one for another device.
        await using var forger = new EdgeMlOps.Runtime.Mqtt.MqttTransport(new EdgeMlOps.Runtime.Mqtt.MqttTransportOptions("aggregator-forger", node.BrokerEndpoint) { CleanStart = true, Tls = node.Security.ClientTls });
        await forger.ConnectAsync(CancellationToken.None);
        await forger.PublishAsync(topic, Google.Protobuf.MessageExtensions.ToByteArray(new EdgeMlOps.Shared.Protocol.V1.Signed { BodyType = "RoundTask", Body = Google.Protobuf.MessageExtensions.ToByteString(task) }), retain: false, CancellationToken.None);
        await Eventually.Until(() => agent.Trust.Rejections == 1, "the unsigned task to be refused");
        Assert.Contains("not signed", agent.Trust.LastRejection, StringComparison.Ordinal);

        var other = task.Clone();
        other.RoundId = "for-someone-else";
        other.DeviceId = "dev-2";
        await forger.PublishAsync(topic, Google.Protobuf.MessageExtensions.ToByteArray(node.Keys.Sign(other)), retain: false, CancellationToken.None);
        await Eventually.Until(() => agent.Trust.Rejections == 2, "the task for another device to be refused");
        Assert.Contains("dev-2", agent.Trust.LastRejection, StringComparison.Ordinal);
        Assert.Equal(2, Interlocked.Read(ref agent.Counters.TasksSkipped));
        Assert.Equal(0, Interlocked.Read(ref agent.Counters.UpdatesProduced));
        await Eventually.Until(() => node.Devices.TryGet("dev-1", out var d) && d.RejectedManifests == 2, "the refusals in the device's status");

        // The aggregator's own signed task still trains.
        var report = await node.RunRoundAsync(CancellationToken.None);
        Assert.Equal(1, report.Contributors);
    }

    [Fact]
    public async Task Stop_DuringLongTraining_ReturnsWithinSeconds()
    {
        var dir = TempDirectory();
        await using var node = await StartNodeAsync(dir);
        var agent = await StartAgentAsync(dir, node, maxEpochs: 100_000);
        await SendSignedTaskAsync(node, epochs: 50_000, TimeSpan.FromMinutes(10));
        await Eventually.Until(() => Interlocked.Read(ref agent.Counters.TasksReceived) == 1, "the task");
        await Task.Delay(500); // well inside 50,000 epochs of 300 one-sample steps

        var clock = Stopwatch.StartNew();
        await agent.DisposeAsync();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"stopped after {clock.Elapsed}");
        Assert.Equal(0, Interlocked.Read(ref agent.Counters.UpdatesProduced));
    }
}
