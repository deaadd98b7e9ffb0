using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Agent;
using EdgeMlOps.Simulator.Data;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A governed fleet of two real agents serving a regressor or a multi-label classifier from a file: each agent holds a
/// share of a csv dataset's rows as training targets, and callers on both ask about rows no device trained on and send
/// back the truth by prediction id (shadows, A/B tests and stage gates need it). Agents join fleet "trust", as
/// <see cref="TrustedInstallTests"/> makes them.
/// </summary>
internal sealed class GovernedTargetFleet : IAsyncDisposable
{
    private readonly CancellationTokenSource _traffic = new();
    private Task _calls = Task.CompletedTask;

    private GovernedTargetFleet(AggregatorNode node, DeviceAgent[] agents, Dataset data)
    {
        (Node, Agents, Data) = (node, agents, data);
    }

    public AggregatorNode Node { get; }

    public DeviceAgent[] Agents { get; }

    public Dataset Data { get; }

    /// <summary>Gates with enough labels to compare versions (60).</summary>
    public static RolloutGates Gates => new() { MinFeedback = 60 };

    /// <summary>A one-second health window of at least 5 predictions.</summary>
    public static HealthWindow Window => new() { WindowSeconds = 1, MinPredictions = 5 };

    /// <summary>A shadow on both devices, judged after 60 scored requests.</summary>
    public static ShadowRequest Shadow => new() { Share = 1.0, MinScored = 60, MinDevices = 2 };

    /// <param name="kind">ModelInterface:Kind: <c>regression</c> or <c>multilabel</c>.</param>
    /// <param name="training">Rows each agent holds as training targets, from row 0 on.</param>
    /// <param name="asked">The rows callers ask about, in turn.</param>
    public static async Task<GovernedTargetFleet> StartAsync(
        string modelFile, string kind, string modelName, RoundOptions rounds, string dataFile, int targetColumns, int training, (int First, int Count) asked, params string[] deviceIds)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"edgemlops-{kind}-governed-" + Guid.NewGuid().ToString("N"));
        var options = AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aggregator:Model"] = "onnx:" + modelFile, ["Aggregator:ModelInterface:Kind"] = kind, ["Aggregator:ModelInterface:Trainable"] = "all",
        }).Build()) with
        {
            Fleet = "trust", ModelName = modelName, EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
            Governance = new EdgeMlOps.Aggregator.Governance.GovernanceOptions { Mode = EdgeMlOps.Aggregator.Governance.DeploymentMode.Governed, RolloutCheckInterval = TimeSpan.FromMilliseconds(200) },
            Rounds = rounds,
        };
        var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        var agents = deviceIds.Select(id => TrustedInstallTests.Agent(dir, node, node.Keys.RootPublicKey, id: id)).ToArray();
        var data = CsvTargetDataset.Load(dataFile, targetColumns);
        var fleet = new GovernedTargetFleet(node, agents, data);
        for (var d = 0; d < agents.Length; d++) agents[d].FeedbackTargets([.. Enumerable.Range(d * training, training).Select(i => (data.Row(i), data.TargetRow(i)))]);
        foreach (var agent in agents) await agent.StartAsync(CancellationToken.None);
        fleet._calls = Task.Run(() => fleet.CallAsync(asked));
        return fleet;
    }

    /// <summary>Callers on every device with a model: one prediction each per turn, its truth sent back by prediction id.</summary>
    private async Task CallAsync((int First, int Count) asked)
    {
        for (var i = 0; !_traffic.IsCancellationRequested; i++)
        {
            foreach (var agent in Agents.Where(x => x.ModelVersion > 0))
            {
                var row = asked.First + (i % asked.Count);
                try
                {
                    agent.FeedbackTarget(agent.PredictValues(Data.Row(row)).PredictionId, Data.TargetRow(row));
                }
                catch (InvalidOperationException ex) when (ex.Message.StartsWith("No model", StringComparison.Ordinal))
                {
                    // between the version check and the call, a switch of versions: the next request is served
                }
            }

            await Task.Delay(10);
        }
    }

    /// <summary>
    /// The opening every governed target fleet shares: v1 approved and rolled out to both devices, one round on their
    /// targets making v2, approved with <paramref name="why"/>; returns why an A/B test on the default (class) metric
    /// was refused for v2.
    /// </summary>
    public async Task<string> DeployFirstThenTrainSecondAsync(string why)
    {
        var model = Node.Options.ModelName;
        Node.Governance.Approve("alice", model, 1, "first");
        await Node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = 1, Stages = [1.0], Health = Window, Gates = Gates }, CancellationToken.None);
        await Until(() => Node.Rollouts.Current!.State == RolloutStatusKind.Completed, "v1 everywhere", 60);
        Assert.Equal(2UL, (await Node.RunRoundAsync(CancellationToken.None)).NewVersion);
        Node.Governance.Approve("alice", model, 2, why);
        var refused = await Assert.ThrowsAsync<ArgumentException>(() => Node.Rollouts.CreateAsync("bob", new RolloutRequest
        {
            Version = 2, Stages = [1.0], Health = Window, Gates = Gates, Experiment = new ExperimentRequest(),
        }, CancellationToken.None));
        return refused.Message;
    }

    /// <summary>Waits, and on a timeout says where the current rollout and the devices stood.</summary>
    public async Task Until(Func<bool> done, string what, double seconds)
    {
        try
        {
            await Eventually.Until(done, what, seconds);
        }
        catch (TimeoutException)
        {
            var view = Node.Rollouts.View(Node.Rollouts.Current!);
            Assert.Fail($"{what}: rollout {view.Rollout.State} ({view.Rollout.Note}), gate {view.Gate.Verdict}, shadow {view.Shadow?.Verdict}; devices {string.Join(", ", Agents.Select(x => $"v{x.ModelVersion} {x.Rollout?.Phase} {x.Rollout?.Reason}"))}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _traffic.CancelAsync();
        await _calls;
        foreach (var agent in Agents.Reverse()) await agent.DisposeAsync();
        await Node.DisposeAsync();
        _traffic.Dispose();
    }
}
