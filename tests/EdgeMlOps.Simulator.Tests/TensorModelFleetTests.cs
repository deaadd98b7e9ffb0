using System.Text.Json;
using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A fleet whose model is not a classifier, configured as an operator types it
/// (<c>Aggregator:Model=onnx:PATH</c>, <c>ModelInterface:Kind=tensors</c>, <c>ModelInterface:State=h_in&gt;h_out</c>):
/// the aggregator probes the file, signs it with its tensor interface and runs no round; a real agent verifies and
/// installs the file byte for byte and serves it with its state carried per session, as PyTorch computed.
/// </summary>
[Collection(FleetCollection.Name)]
public class TensorModelFleetTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    private static AggregatorOptions Read(Dictionary<string, string?> values) =>
        AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(values).Build());

    [Fact]
    public async Task AStatefulGru_IsProbedSignedAndInstalledByteForByte_ServedByARealAgent_AsPyTorchComputed_AndUpdatedByANewFile()
    {
        var gru = Fixture("pytorch_gru_keyword.onnx");
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-tensors-" + Guid.NewGuid().ToString("N"));
        var options = Read(new() { ["Aggregator:Model"] = "onnx:" + gru, ["Aggregator:ModelInterface:Kind"] = "tensors", ["Aggregator:ModelInterface:State"] = "h_in>h_out" }) with
        {
            Fleet = "kws", ModelName = "keyword", EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
        };
        Assert.False(options.Model.IsClassifier);
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        var file = await File.ReadAllBytesAsync(gru);
        Assert.Equal(ContentHash.Sha256Hex(file), node.CurrentVersion.InferenceSha256);
        Assert.Equal(string.Empty, node.CurrentVersion.TrainStepSha256);
        var round = await node.RunRoundAsync(CancellationToken.None);
        Assert.Contains("ModelInterface:Kind=tensors", round.StopReason, StringComparison.Ordinal);
        var card = EdgeMlOps.Aggregator.Governance.ModelCard.Build(node.Registry, node.Options, node.Monitor, node.CurrentVersion, artifacts: node.Artifacts).Markdown;
        Assert.Contains("| served as | uploaded model, by tensor names | the file " + ContentHash.Sha256Hex(file) + " byte for byte, not trained; callers feed frames:float[1,-1,8] to POST /v1/infer; state kept per session: h_out → h_in |", card, StringComparison.Ordinal);
        Assert.Contains("GRU ×1", card, StringComparison.Ordinal);

        await using var device = await JoinedAgent.StartAsync(node, dir, "mic-7");
        var (agent, models) = (device.Agent, device.Models);
        Assert.Equal(file, models.ReadBlob(agent.CurrentModel!.Inference.Sha256));
        Assert.Equal(options.Model, ModelArchitectures.ToSpec(agent.CurrentModel.Architecture));

        using var expected = JsonDocument.Parse(await File.ReadAllTextAsync(Fixture("tensor_models_expected.json")));
        var frames = expected.RootElement.GetProperty("frames").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        Agent.Serving.TensorAnswer answer = null!;
        foreach (var (start, count) in new[] { (0, 6), (6, 6) })
        {
            answer = agent.Infer([new NamedTensor("frames", TensorElement.Float, [1, count, 8], frames[(start * 8)..((start + count) * 8)])], "stream-1");
        }

        Assert.Equal(expected.RootElement.GetProperty("score")[0].GetSingle(), ((float[])answer.Outputs.Single(o => o.Name == "score").Data)[0], 5);
        Assert.Throws<Agent.Serving.ModelKindException>(() => agent.Predict([1f]));
        Assert.Equal(2, agent.InferenceLatency.Count); // both runs count in the serving health the rollout gates read

        // A second version is a new file with the same interface (retrained elsewhere), registered at run time and
        // served byte for byte; the session's state from v1 is not carried into v2.
        var v2 = await File.ReadAllBytesAsync(Fixture("pytorch_gru_keyword_v2.onnx"));
        var record = await node.RegisterFileAsync(v2, "dana", "retrained on the new microphones", CancellationToken.None);
        Assert.Equal((2UL, ContentHash.Sha256Hex(v2)), (record.Version, record.InferenceSha256));
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20))) await agent.WaitForModelAsync(2, cts.Token);
        Assert.Equal(v2, models.ReadBlob(agent.CurrentModel!.Inference.Sha256));
        var whole = agent.Infer([new NamedTensor("frames", TensorElement.Float, [1, 12, 8], frames)], "stream-1");
        Assert.True(whole.StateReset);
        Assert.Equal(2UL, whole.ModelVersion);
        Assert.Equal(expected.RootElement.GetProperty("score_v2")[0].GetSingle(), ((float[])whole.Outputs.Single(o => o.Name == "score").Data)[0], 5);

        // A file with another interface is not a version of this model: refused saying what differs, nothing registered.
        var regressor = await File.ReadAllBytesAsync(Fixture("mixed_inputs_regressor.onnx"));
        var refused = await Assert.ThrowsAsync<EdgeMlOps.Aggregator.Registry.UploadRefusedException>(() => node.RegisterFileAsync(regressor, "dana", "wrong file", CancellationToken.None));
        Assert.Contains("the file's interface is not the fleet's: no input 'frames' (frames:float[1,-1,8])", refused.Message, StringComparison.Ordinal);
        var wider = EdgeMlOps.Shared.Onnx.ClassifierGraphs.Parse(v2);
        wider.Graph.Output[1].Type.TensorType.Shape.Dim[2].DimValue = 32;
        refused = await Assert.ThrowsAsync<EdgeMlOps.Aggregator.Registry.UploadRefusedException>(() => node.RegisterFileAsync(Google.Protobuf.MessageExtensions.ToByteArray(wider), "dana", "wider state", CancellationToken.None));
        Assert.Contains("output h_out:float[1,1,32], the fleet's is h_out:float[1,1,16]", refused.Message, StringComparison.Ordinal);
        Assert.Equal(2UL, node.Registry.Latest("keyword")!.Version);
    }

    [Fact]
    public async Task AGovernedRollout_OfANewFile_IsJudgedOnHealthLatencyAndErrors_AndABadVersionRollsBackOnTheDevices()
    {
        var gru = Fixture("pytorch_gru_keyword.onnx");
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-tensors-" + Guid.NewGuid().ToString("N"));
        var options = Read(new() { ["Aggregator:Model"] = "onnx:" + gru, ["Aggregator:ModelInterface:Kind"] = "tensors", ["Aggregator:ModelInterface:State"] = "h_in>h_out" }) with
        {
            Fleet = "trust", ModelName = "m", EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
            Governance = new EdgeMlOps.Aggregator.Governance.GovernanceOptions { Mode = EdgeMlOps.Aggregator.Governance.DeploymentMode.Governed, RolloutCheckInterval = TimeSpan.FromMilliseconds(200) },
        };
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        await using var a = TrustedInstallTests.Agent(dir, node, node.Keys.RootPublicKey, id: "mic-a");
        await using var b = TrustedInstallTests.Agent(dir, node, node.Keys.RootPublicKey, id: "mic-b");
        await a.StartAsync(CancellationToken.None);
        await b.StartAsync(CancellationToken.None);
        DeviceAgent[] agents = [a, b];
        var noLabels = new EdgeMlOps.Aggregator.Rollouts.RolloutGates { MinFeedback = 0 };
        var window = new EdgeMlOps.Aggregator.Rollouts.HealthWindow { WindowSeconds = 1, MinPredictions = 5 };

        // Callers on both devices stream frames through their sessions the whole time.
        using var traffic = new CancellationTokenSource();
        var calls = Task.Run(async () =>
        {
            var frames = new NamedTensor("frames", TensorElement.Float, [1, 2, 8], new float[16]);
            while (!traffic.IsCancellationRequested)
            {
                foreach (var agent in agents.Where(x => x.ModelVersion > 0)) agent.Infer([frames], "stream");
                await Task.Delay(20);
            }
        });

        node.Governance.Approve("alice", "m", 1, "first");
        await node.Rollouts.CreateAsync("bob", new EdgeMlOps.Aggregator.Rollouts.RolloutRequest { Version = 1, Stages = [1.0], Health = window, Gates = noLabels }, CancellationToken.None);
        await Eventually.Until(() => node.Rollouts.Current!.State == EdgeMlOps.Aggregator.Rollouts.RolloutStatusKind.Completed, "v1 everywhere", 60);

        // v2, a retrained file uploaded by dana and approved by alice, goes out on the devices' health and the gates'
        // failures, error rate and latency alone (no labels). (Stage shares hash device ids: with two devices a 50% stage may hold none.)
        var v2 = await node.RegisterFileAsync(await File.ReadAllBytesAsync(Fixture("pytorch_gru_keyword_v2.onnx")), "dana", "retrained", CancellationToken.None);
        node.Governance.Approve("alice", "m", v2.Version, "ok");
        await node.Rollouts.CreateAsync("bob", new EdgeMlOps.Aggregator.Rollouts.RolloutRequest { Version = v2.Version, Stages = [1.0], Health = window, Gates = noLabels }, CancellationToken.None);
        try
        {
            await Eventually.Until(() => node.Rollouts.Current!.State == EdgeMlOps.Aggregator.Rollouts.RolloutStatusKind.Completed, "v2 everywhere", 90);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"rollout {node.Rollouts.Current!.State}: {node.Rollouts.Current.Note}; devices on {string.Join(",", agents.Select(x => $"{x.ModelVersion}/{x.Rollout?.Phase}/{x.Rollout?.Reason}"))}");
        }
        await Eventually.Until(() => agents.All(x => x.ModelVersion == v2.Version), "both devices on v2", 30);
        Assert.Equal(v2.Version, node.DeployedVersion!.Version);

        // v3 misses its latency budget on the devices themselves: they go back to v2, and the rollout aborts.
        var v3 = await node.RegisterFileAsync(await File.ReadAllBytesAsync(Fixture("pytorch_gru_keyword.onnx")), "dana", "the old weights again", CancellationToken.None);
        node.Governance.Approve("alice", "m", v3.Version, "ok");
        var strict = new EdgeMlOps.Aggregator.Rollouts.HealthWindow { WindowSeconds = 1, MinPredictions = 5, LatencyBudgetP95Ms = 1e-6 };
        await node.Rollouts.CreateAsync("bob", new EdgeMlOps.Aggregator.Rollouts.RolloutRequest { Version = v3.Version, Stages = [1.0], Health = strict, Gates = noLabels }, CancellationToken.None);
        await Eventually.Until(() => agents.All(x => x.Rollout is { Phase: EdgeMlOps.Shared.Protocol.V1.RolloutPhase.RolledBack } p && p.TargetVersion == v3.Version), "every device to revert", 60);
        await Eventually.Until(() => node.Rollouts.Current!.State == EdgeMlOps.Aggregator.Rollouts.RolloutStatusKind.Aborted, "the gate to abort", 30);
        await traffic.CancelAsync();
        await calls;
        Assert.All(agents, x =>
        {
            Assert.Equal(v2.Version, x.ModelVersion);
            Assert.Contains("p95 latency", x.Rollout!.Reason, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task AProfileSentToAFleetWithoutFeatures_IsRefusedAndCounted_NotThrown()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-tensors-" + Guid.NewGuid().ToString("N"));
        var options = Read(new() { ["Aggregator:Model"] = "onnx:" + Fixture("pytorch_gru_keyword.onnx"), ["Aggregator:ModelInterface:Kind"] = "tensors" }) with
        {
            ModelName = "keyword", EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
        };
        await using var node = new AggregatorNode(options);

        // An empty window (no sketches, no class counts) once reached WindowProfile(0, 0) and threw out of the inbox.
        var outcome = node.Drift.AddProfile("mic-1", new EdgeMlOps.Shared.Protocol.V1.ProfileReport { ModelName = "keyword", ModelVersion = 1, Predictions = 3, WindowEndUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() });
        Assert.False(outcome.Accepted);
        Assert.Equal(EdgeMlOps.Shared.RejectionReason.BadProfile, outcome.Reason);
        Assert.Contains("0 feature sketches, the model has 17 inputs", outcome.Detail, StringComparison.Ordinal); // score and h_out (no state declared here) are monitored
    }

    [Fact]
    public async Task RetrainingAndFederatedEvaluation_AreRefusedSayingWhy_ForAModelTheFleetDoesNotTrainOrLabel()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-tensors-" + Guid.NewGuid().ToString("N"));
        var options = Read(new() { ["Aggregator:Model"] = "onnx:" + Fixture("pytorch_gru_keyword.onnx"), ["Aggregator:ModelInterface:Kind"] = "tensors" }) with
        {
            ModelName = "keyword", EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
            Governance = new EdgeMlOps.Aggregator.Governance.GovernanceOptions { Mode = EdgeMlOps.Aggregator.Governance.DeploymentMode.Governed },
        };
        await using var node = new AggregatorNode(options);
        var retrain = Assert.Throws<EdgeMlOps.Aggregator.Governance.GovernanceException>(() => node.Pipeline.Start(new EdgeMlOps.Aggregator.Pipeline.PipelineTrigger("manual", "try"), "bob"));
        Assert.Contains("nothing to retrain: the fleet serves tensors-", retrain.Message, StringComparison.Ordinal);
        var evaluate = await Assert.ThrowsAsync<InvalidOperationException>(() => node.RunFederatedEvaluationAsync(5, CancellationToken.None));
        Assert.Contains("served by tensor names: devices hold no labelled samples", evaluate.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheOutputsOfARegressor_AreMonitored_AgainstAReferenceFormedFromItsFirstProductionRows()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-tensors-" + Guid.NewGuid().ToString("N"));
        var options = Read(new() { ["Aggregator:Model"] = "onnx:" + Fixture("mixed_inputs_regressor.onnx"), ["Aggregator:ModelInterface:Kind"] = "tensors" }) with
        {
            Fleet = "meters", ModelName = "meter", EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
            Monitoring = new EdgeMlOps.Aggregator.Monitoring.MonitoringOptions { Window = TimeSpan.FromSeconds(1) },
        };
        Assert.Equal([("value", 1)], options.Model.Graph!.Tensors!.Monitored); // a float row of one value; site_code is int64
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        await using var device = await JoinedAgent.StartAsync(node, dir, "meter-1", profileWindow: TimeSpan.FromHours(1));
        var agent = device.Agent;

        var random = new Random(12);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        async Task<long> WindowOfTrafficAsync(double shift)
        {
            for (var call = 0; call < 30; call++) // 900 rows a window: two calm windows of 300 rows were at times more than 0.1 apart (1 run in 6)
            {
                var reading = Enumerable.Range(0, 30 * 3).Select(i => (float)(Normal() + (i % 3 == 2 ? shift : 0))).ToArray();
                agent.Infer([
                    new NamedTensor("reading", TensorElement.Float, [30, 3], reading),
                    new NamedTensor("site", TensorElement.String, [30, 1], Enumerable.Repeat("north", 30).ToArray()),
                    new NamedTensor("count", TensorElement.Int64, [30, 1], new long[30]),
                ]);
            }

            return await device.FlushWindowAsync(node, predictions: 900);
        }

        var first = await WindowOfTrafficAsync(shift: 0);
        Assert.NotNull(node.Monitor.Reference(1)); // 900 production rows of 'value': the reference
        var stable = await WindowOfTrafficAsync(shift: 0);
        var shifted = await WindowOfTrafficAsync(shift: 3); // reading[2] + 3: value + 6
        var reports = await node.EvaluateDriftAsync(stable, CancellationToken.None);
        var calm = reports.Single(r => r.Version == 1 && r.Cohort == FleetMonitor.AllCohorts);
        Assert.Equal(("production", 1, 0), (calm.Reference, calm.Judged, calm.Drifted));
        reports = await node.EvaluateDriftAsync(shifted, CancellationToken.None);
        var moved = reports.Single(r => r.Version == 1 && r.Cohort == FleetMonitor.AllCohorts);
        Assert.Equal(("production", 1, 1), (moved.Reference, moved.Judged, moved.Drifted));
        Assert.True(moved.DatasetDrift, $"share {moved.Share}");
        Assert.NotEqual(first, shifted);
    }

    [Fact]
    public async Task TheDeclaredEmbeddingOfAnImageModel_IsSketchedOnTheDevice_AndADarkerCameraDriftsIt()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-tensors-" + Guid.NewGuid().ToString("N"));
        var embedding = JsonDocument.Parse(File.ReadAllText(Fixture("image_scorer_expected.json"))).RootElement.GetProperty("embedding").GetString()!;
        var options = Read(new()
        {
            ["Aggregator:Model"] = "onnx:" + Fixture("pytorch_image_scorer.onnx"), ["Aggregator:ModelInterface:Kind"] = "tensors", ["Aggregator:ModelInterface:Embedding"] = embedding,
        }) with
        {
            Fleet = "cameras", ModelName = "scorer", EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
            Monitoring = new EdgeMlOps.Aggregator.Monitoring.MonitoringOptions { Window = TimeSpan.FromSeconds(1) },
        };
        Assert.Equal(17, options.Model.Graph!.Tensors!.MonitoredWidth); // the score and the 16 pooled features, not 784 pixels
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        await using var device = await JoinedAgent.StartAsync(node, dir, "cam-1", profileWindow: TimeSpan.FromHours(1));
        var agent = device.Agent;
        Assert.Equal(embedding, agent.CurrentModel!.Architecture.Graph.Tensors.Embedding); // signed in the manifest it installed

        var random = new Random(7);
        async Task<long> WindowOfImagesAsync(float brightness)
        {
            for (var call = 0; call < 10; call++)
            {
                var images = Enumerable.Range(0, 30 * 784).Select(_ => (float)random.NextDouble() * brightness).ToArray();
                var answer = agent.Infer([new NamedTensor("image", TensorElement.Float, [30, 1, 28, 28], images)], sessionId: null);
                Assert.Equal(["score"], answer.Outputs.Select(o => o.Name)); // the embedding is never in an answer
            }

            return await device.FlushWindowAsync(node, predictions: 300);
        }

        await WindowOfImagesAsync(brightness: 1);
        Assert.Equal(17, node.Monitor.Reference(1)!.Features.Length);
        var calm = (await node.EvaluateDriftAsync(await WindowOfImagesAsync(brightness: 1), CancellationToken.None)).Single(r => r.Version == 1 && r.Cohort == FleetMonitor.AllCohorts);
        var dark = (await node.EvaluateDriftAsync(await WindowOfImagesAsync(brightness: 0.6f), CancellationToken.None)).Single(r => r.Version == 1 && r.Cohort == FleetMonitor.AllCohorts);
        Assert.Equal("production", calm.Reference);
        Assert.True(calm.Judged >= 10 && !calm.DatasetDrift, $"the same camera: {calm.Drifted} of {calm.Judged} drifted");
        Assert.True(dark.DatasetDrift && dark.Drifted >= dark.Judged / 2, $"a darker camera: {dark.Drifted} of {dark.Judged} drifted");
    }
}
