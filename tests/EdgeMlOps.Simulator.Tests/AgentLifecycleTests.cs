using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>A real agent against a real aggregator, outside the simulator loop.</summary>
[Collection(FleetCollection.Name)]
public class AgentLifecycleTests
{
    private static string Temp() => Path.Combine(Path.GetTempPath(), "edgemlops-life-" + Guid.NewGuid().ToString("N"));

    /// <summary>An aggregator and one connected agent with v1 installed; disposing tears both down.</summary>
    private sealed record Fleet(AggregatorNode Node, DeviceAgent Agent, SampleStore Store, HttpClient Http) : IAsyncDisposable
    {
        public bool AgentCrashed { get; set; }

        public async ValueTask DisposeAsync()
        {
            if (!AgentCrashed) await Agent.DisposeAsync();
            Store.Dispose();
            Http.Dispose();
            await Node.DisposeAsync();
        }
    }

    /// <param name="uploaded">The fleet's model when it is an uploaded file; null: a generated mlp-3-4-2.</param>
    private static async Task<Fleet> StartAsync(string dir, Shared.Onnx.UploadedClassifier? uploaded = null)
    {
        var node = new AggregatorNode(new AggregatorOptions
        {
            Fleet = "life",
            ModelName = "m",
            Model = uploaded?.Spec ?? ModelSpecText.Parse("mlp-3-4-2"),
            ModelSource = uploaded,
            EmbeddedBrokerPort = 0,
            HttpUrl = "http://127.0.0.1:0",
            DataDirectory = Path.Combine(dir, "agg"),
            Rounds = new RoundOptions { ClientsPerRound = 1, OverSelection = 1, ReportDeadline = TimeSpan.FromSeconds(20), LocalEpochs = 2, BatchSize = 2 },
        });
        await node.StartAsync(CancellationToken.None);
        var store = new SampleStore(Path.Combine(dir, "dev", "agent.db"), 100, 100);
        var http = new HttpClient();
        var outbox = new Outbox(Path.Combine(dir, "dev", "outbox.db"), 100);
        var agent = new DeviceAgent(new AgentOptions { DeviceId = "dev-1", Fleet = "life", Broker = node.BrokerEndpoint, FleetCa = node.Security.Authority.Certificate, Enrollment = Join.Enrollment(node), TrustedRoots = [node.Keys.RootPublicKey] }, new AgentDependencies { Store = store, Outbox = outbox, Models = new ModelStore(Path.Combine(dir, "dev", "models")), Http = http });
        await agent.StartAsync(CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await agent.WaitForModelAsync(1, cts.Token);
        return new Fleet(node, agent, store, http);
    }

    [Fact]
    public async Task Predict_Feedback_Train_PublishesUpdate_AndInstallsNextVersion()
    {
        await using var fleet = await StartAsync(Temp());
        var (node, agent, store, http) = fleet;
        var prediction = agent.Predict([0.1f, 0.2f, 0.3f]);
        Assert.Equal(1UL, prediction.ModelVersion);
        Assert.Equal(1.0, prediction.Probabilities.Sum(), 4);
        Assert.InRange(prediction.Label, 0, 1);
        Assert.Throws<ArgumentException>(() => agent.Predict([1f]));

        Assert.True(agent.Feedback(prediction.PredictionId, 1));
        Assert.False(agent.Feedback(prediction.PredictionId, 1)); // already labelled
        Assert.False(agent.Feedback("unknown", 0));
        float[][] rows = [[1f, 0f, 0f], [0f, 1f, 1f], [1f, 0.1f, 0f]];
        agent.Feedback(rows.Select((f, i) => (f, (long)(i % 2))).ToArray());
        Assert.Equal(4, store.SampleCount);
        await agent.PublishStatusAsync(CancellationToken.None);
        await Eventually.Until(() => node.Devices.TryGet("dev-1", out var d) && d.SampleCount == 4);

        var report = await node.RunRoundAsync(CancellationToken.None);
        Assert.Equal(Aggregator.Rounds.RoundStatus.Completed, report.Status);
        Assert.Equal(4, report.Samples);
        Assert.Equal(1, agent.Counters.UpdatesProduced);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await agent.WaitForModelAsync(2, cts.Token);
        Assert.Equal(2UL, agent.Predict([0.1f, 0.2f, 0.3f]).ModelVersion);
    }

    [Fact]
    public async Task Predictions_DuringVersionSwitches_NeverHitADisposedSession()
    {
        await using var fleet = await StartAsync(Temp());
        var (node, agent, store, http) = fleet;
        agent.Feedback([(new[] { 1f, 0f, 0f }, 0L), (new[] { 0f, 1f, 1f }, 1L)]);
        await Eventually.Until(() => node.Devices.TryGet("dev-1", out var d) && d.SampleCount == 2);
        using var stop = new CancellationTokenSource();
        var predictors = Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
        {
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                agent.Predict([0.1f, 0.2f, 0.3f]);
                n++;
            }

            return n;
        })).ToArray();
        for (var r = 0; r < 5; r++)
        {
            Assert.Equal(Aggregator.Rounds.RoundStatus.Completed, (await node.RunRoundAsync(CancellationToken.None)).Status);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await agent.WaitForModelAsync((ulong)r + 2, cts.Token);
        }

        stop.Cancel();
        var counts = await Task.WhenAll(predictors); // rethrows any prediction failure
        Assert.All(counts, n => Assert.True(n > 0));
        Assert.Equal(6UL, agent.ModelVersion);
    }

    [Fact]
    public async Task FederatedEvaluation_EqualsEvaluatingTheDevicesPooledData()
    {
        await using var fleet = await StartAsync(Temp());
        var (node, agent, store, http) = fleet;
        var random = new Random(5);
        var samples = Enumerable.Range(0, 40).Select(i => (new[] { (float)random.NextDouble(), (float)random.NextDouble(), (float)(i % 2) }, (long)(i % 2))).ToArray();
        agent.Feedback(samples);
        await Eventually.Until(() => node.Devices.TryGet("dev-1", out var d) && d.SampleCount == 40, "samples reported");

        var report = await node.RunFederatedEvaluationAsync(5, CancellationToken.None);

        using var model = Runtime.InferenceModel.Load(node.Artifacts.Read(node.CurrentVersion.InferenceSha256));
        var exact = model.Evaluate(samples.SelectMany(s => s.Item1).ToArray(), samples.Select(s => s.Item2).ToArray());
        Assert.Equal((1, 1, 40L), (report.Selected, report.Reported, report.Samples));
        Assert.Equal(exact.Accuracy, report.Accuracy, 9);
        Assert.Equal(exact.Loss, report.Loss, 4);
    }

    /// <summary>
    /// PyTorch's frame classifier with samples of 6 to 8 frames (<c>frames=6..8</c>): a device holding scans of each
    /// length scores each length on its own, and federated evaluation equals evaluating the pooled scans length by
    /// length; a round trains all of them.
    /// </summary>
    [Fact]
    public async Task SamplesOfSeveralLengths_AreEvaluatedAndTrainedOnTheDevice_EveryLength()
    {
        var frames = await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_digit_frames.onnx"));
        var uploaded = Shared.Onnx.UploadedClassifier.Open(frames, new Shared.Onnx.UploadedClassifierOptions("all") { AxisLengths = [("frames", 8)], Varying = ("frames", 6) });
        await using var fleet = await StartAsync(Temp(), uploaded);
        var (node, agent, _, _) = fleet;
        var scans = File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Fixtures", "digits_tokens.csv")).Take(36)
            .Select(line => line.Split(',').Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray()).ToArray();
        var samples = scans.Select((scan, i) => (scan.AsSpan(0, (6 + (i % 3)) * 8).ToArray(), (long)scan[64])).ToArray(); // 6, 7 and 8 frames in turn
        agent.Feedback(samples);
        await Eventually.Until(() => node.Devices.TryGet("dev-1", out var d) && d.SampleCount == 36, "samples reported");

        var report = await node.RunFederatedEvaluationAsync(5, CancellationToken.None);
        using var model = Runtime.InferenceModel.Load(node.Artifacts.Read(node.CurrentVersion.InferenceSha256), uploaded.Spec);
        var byLength = samples.GroupBy(s => s.Item1.Length).Select(g => model.Evaluate([.. g.SelectMany(s => s.Item1)], [.. g.Select(s => s.Item2)])).ToList();
        Assert.Equal(3, byLength.Count);
        Assert.Equal((1, 1, 36L), (report.Selected, report.Reported, report.Samples));
        Assert.Equal(byLength.Sum(e => e.Accuracy * e.Samples) / 36, report.Accuracy, 9);
        Assert.Equal(byLength.Sum(e => e.Loss * e.Samples) / 36, report.Loss, 4);

        var round = await node.RunRoundAsync(CancellationToken.None);
        Assert.Equal((Aggregator.Rounds.RoundStatus.Completed, 36L), (round.Status, round.Samples));
    }

    [Fact]
    public async Task FederatedImportance_MeasuredOnTheDevicesOwnRows_FindsTheOneInputTheModelUses()
    {
        await using var fleet = await StartAsync(Temp());
        var (node, agent, _, _) = fleet;

        // A version answering class 1 exactly when input 2 is above 0.5 (mlp-3-4-2: through hidden unit 0).
        var weights = new ModelWeights(node.Options.Model, new float[26]);
        weights.Values[2 * 4] = 10;  // layer0.weight[2, 0]
        weights.Values[16 + 1] = 1;  // layer1.weight[0, 1]
        weights.Values[24 + 1] = -5; // layer1.bias[1]
        var version = await node.RegisterVersionAsync(weights, "dana", "relies on input 2", CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20))) await agent.WaitForModelAsync(version.Version, cts.Token);

        var random = new Random(5);
        var rows = Enumerable.Range(0, 40).Select(i => (new[] { (float)random.NextDouble(), (float)random.NextDouble(), (float)(i % 2) }, (long)(i % 2))).ToArray();
        agent.Feedback(rows);
        await Eventually.Until(() => node.Devices.TryGet("dev-1", out var d) && d.SampleCount == 40, "samples reported");

        // The grid of partial dependence comes from the version's reference profile (the training-sample sketches).
        var reference = new EdgeMlOps.Shared.Monitoring.WindowProfile(3, 2);
        foreach (var (row, _) in rows) reference.AddInputs(row);
        node.Monitor.SetReference(version.Version, reference);

        var report = await node.RunFederatedEvaluationAsync(5, CancellationToken.None, importanceInputs: [0, 1, 2], dependenceInputs: [2, 0]);

        Assert.Equal(1.0, report.Accuracy);
        var importance = report.Importance!;
        Assert.Equal((version.Version, 1, 40L, 1.0), (importance.Version, importance.Devices, importance.Rows, importance.Accuracy));
        Assert.Equal([0, 1, 2], importance.Importance.Select(i => i.Input));
        Assert.Equal(0.0, importance.Importance[0].Mean); // inputs the model ignores: shuffling them changes no answer
        Assert.Equal(0.0, importance.Importance[1].Mean);
        Assert.InRange(importance.Importance[2].Mean, 0.2, 0.8); // the rows whose input 2 was swapped for the other class's

        // Partial dependence measured on the device equals computing it on its rows directly: a step in input 2, flat in input 0.
        Assert.Equal([2, 0], importance.Dependence.Select(c => c.Input));
        using var served = Runtime.InferenceModel.Load(node.Artifacts.Read(version.InferenceSha256));
        var features = rows.SelectMany(r => r.Item1).ToArray();
        foreach (var curve in importance.Dependence)
        {
            var direct = EdgeMlOps.Shared.Explanations.PartialDependence.Compute(served, features, 40, curve.Input, curve.Grid);
            for (var g = 0; g < curve.Grid.Length; g++)
            {
                for (var k = 0; k < 2; k++) Assert.Equal(direct.Average[g][k], curve.Average[g][k], 9);
            }
        }

        var step = importance.Dependence[0];
        Assert.Equal((0f, 1f, 20), (step.Grid[0], step.Grid[^1], step.Grid.Length));
        Assert.True(step.Average[0][1] < 0.01 && step.Average[^1][1] > 0.99, "P(class 1) steps from 0 to 1 across input 2");
        Assert.Single(importance.Dependence[1].Average.Select(p => Math.Round(p[1], 9)).Distinct()); // input 0 is ignored: flat

        // Stored with the version it measured, and shown in its model card (no held-out data on this node).
        var stored = node.Explainer.Federated(version)!;
        Assert.Equal(importance.Importance[2].Mean, stored.Importance[2].Mean);
        var card = Aggregator.Governance.ModelCard.Build(node.Registry, node.Options, node.Monitor, version, node.Explainer.For(version), stored);
        Assert.Contains("On devices: measured by 1 devices on 40 of their own labelled rows", card.Markdown, StringComparison.Ordinal);
        Assert.Contains("| PDP on devices | 2 |", card.Markdown, StringComparison.Ordinal);
        Assert.Contains("| 1 | 2 | - | - |", card.Markdown, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CrashedAgent_IsMarkedLost_ByItsLastWill_AndGracefulStopIsOffline()
    {
        var dir = Temp();
        await using var fleet = await StartAsync(dir);
        var (node, agent, store, http) = fleet;
        agent.Feedback([1f, 2f, 3f], 1);
        await agent.PublishStatusAsync(CancellationToken.None);
        await Eventually.Until(() => node.Devices.Eligible().Count == 1);
        agent.Crash();
        fleet.AgentCrashed = true;
        await Eventually.Until(() => node.Devices.TryGet("dev-1", out var d) && d.State == DeviceState.Lost);
        Assert.Empty(node.Devices.Eligible());

        var second = new DeviceAgent(new AgentOptions { DeviceId = "dev-2", Fleet = "life", Broker = node.BrokerEndpoint, FleetCa = node.Security.Authority.Certificate, Enrollment = Join.Enrollment(node), TrustedRoots = [node.Keys.RootPublicKey] }, new AgentDependencies { Store = store, Outbox = new Outbox(Path.Combine(dir, "dev2", "outbox.db"), 10), Models = new ModelStore(Path.Combine(dir, "dev2", "models")), Http = http });
        await second.StartAsync(CancellationToken.None);
        await Eventually.Until(() => node.Devices.TryGet("dev-2", out var d) && d.State == DeviceState.Online);
        await second.DisposeAsync();
        await Eventually.Until(() => node.Devices.TryGet("dev-2", out var d) && d.State == DeviceState.Offline);
    }

    [Fact]
    public async Task CleanRestart_OfTheSameDevice_IsOnlineAndEligibleAgain()
    {
        // systemd restarts a device with SIGTERM: OFFLINE goodbye, then a new process on the same data.
        var dir = Temp();
        await using var fleet = await StartAsync(dir);
        var (node, agent, store, http) = fleet;
        agent.Feedback([1f, 2f, 3f], 1);
        await Eventually.Until(() => node.Devices.Eligible().Count == 1, "eligible before the restart");
        await agent.DisposeAsync();
        fleet.AgentCrashed = true;
        await Eventually.Until(() => node.Devices.TryGet("dev-1", out var d) && d.State == DeviceState.Offline, "offline after the goodbye");

        var restarted = new DeviceAgent(
            new AgentOptions { DeviceId = "dev-1", Fleet = "life", Broker = node.BrokerEndpoint, FleetCa = node.Security.Authority.Certificate, Enrollment = Join.Enrollment(node), TrustedRoots = [node.Keys.RootPublicKey] },
            new AgentDependencies { Store = store, Outbox = new Outbox(Path.Combine(dir, "dev", "outbox.db"), 100), Models = new ModelStore(Path.Combine(dir, "dev", "models")), Http = http });
        await using (restarted)
        {
            await restarted.StartAsync(CancellationToken.None);
            await Eventually.Until(() => node.Devices.TryGet("dev-1", out var d) && d.State == DeviceState.Online, "online after the restart", 10);
            Assert.Single(node.Devices.Eligible());
            Assert.Equal(Aggregator.Rounds.RoundStatus.Completed, (await node.RunRoundAsync(CancellationToken.None)).Status);
        }
    }

    [Fact]
    public async Task Stop_WhileAnInstallWaitsForTheInstallGate_IsClean()
    {
        // SIGTERM during a slow download while a second announcement waits its turn: the stop must not throw.
        var dir = Temp();
        await using var node = new AggregatorNode(new AggregatorOptions
        {
            Fleet = "life", ModelName = "m", Model = ModelSpecText.Parse("mlp-3-4-2"), EmbeddedBrokerPort = 0,
            HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
        });
        await node.StartAsync(CancellationToken.None);
        using var blackHole = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0); // accepts, never answers
        blackHole.Start();
        using var store = new SampleStore(Path.Combine(dir, "dev", "agent.db"), 100, 100);
        using var outbox = new Outbox(Path.Combine(dir, "dev", "outbox.db"), 100);
        using var http = new HttpClient();
        var agent = new DeviceAgent(
            new AgentOptions
            {
                DeviceId = "dev-1", Fleet = "life", TrustedRoots = [node.Keys.RootPublicKey],
                ArtifactBaseUrl = new Uri($"http://127.0.0.1:{((System.Net.IPEndPoint)blackHole.LocalEndpoint).Port}/"),
            },
            new AgentDependencies { Store = store, Outbox = outbox, Models = new ModelStore(Path.Combine(dir, "dev", "models")), Http = http, Channels = Join.DeviceChannels(node, "dev-1") });
        await agent.StartAsync(CancellationToken.None);
        await Eventually.Until(() => blackHole.Pending(), "the first install's download to start");

        // The same signed announcement again: its install waits for the gate the hanging download holds.
        var announcement = new TaskCompletionSource<byte[]>();
        var sniffer = node.Channels.Create(new Runtime.Channels.FleetChannelOptions("aggregator-sniffer") { CleanStart = true }, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        sniffer.MessageReceived = (_, payload) =>
        {
            announcement.TrySetResult(System.Buffers.BuffersExtensions.ToArray(payload));
            return Task.CompletedTask;
        };
        await sniffer.SubscribeAsync([new Shared.Protocol.Topics("life").Model], CancellationToken.None);
        await sniffer.ConnectAsync(CancellationToken.None);
        await sniffer.PublishAsync(new Shared.Protocol.Topics("life").Model, await announcement.Task.WaitAsync(TimeSpan.FromSeconds(10)), retain: false, CancellationToken.None);
        await Task.Delay(300);

        await agent.StopAsync().WaitAsync(TimeSpan.FromSeconds(20));
        await agent.DisposeAsync();
        await sniffer.DisposeAsync();
    }
}
