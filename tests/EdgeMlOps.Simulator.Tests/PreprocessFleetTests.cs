using System.Text.Json;
using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Runtime;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A keyword spotter whose device-side preprocessing is an ONNX graph of its own, configured as an operator types it
/// (<c>ModelInterface:Preprocess=FILE</c>, <c>ModelInterface:Window=wave:1</c>): PyTorch's log-mel front end in front of
/// PyTorch's 1-D CNN. The aggregator pins the front end's sha256 in the signed interface and serves it as an artifact;
/// a real agent fetches and checks both files, streams raw audio into its window, runs both graphs as they are — and
/// serves the same after a restart with no network.
/// </summary>
[Collection(FleetCollection.Name)]
public class PreprocessFleetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public async Task AMelFrontEndAndAKeywordCnn_AreSignedFetchedAndRunAsTheyAre_OnAudioStreamedIntoTheWindow_AlsoAfterARestartOffline()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-preprocess-" + Guid.NewGuid().ToString("N"));
        var (kws, front) = (Fixture("pytorch_kws_1d.onnx"), Fixture("pytorch_mel_frontend.onnx"));
        var options = AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aggregator:Model"] = "onnx:" + kws, ["Aggregator:ModelInterface:Kind"] = "tensors",
            ["Aggregator:ModelInterface:Preprocess"] = front, ["Aggregator:ModelInterface:Window"] = "wave:1",
        }).Build()) with
        {
            Fleet = "mics", ModelName = "keywords", EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
        };
        var frontBytes = await File.ReadAllBytesAsync(front);
        var tensors = options.Model.Graph!.Tensors!;
        Assert.Equal(ContentHash.Sha256Hex(frontBytes), tensors.Preprocess!.Sha256);
        Assert.Equal(["wave:float[-1,8192]"], tensors.CallerInputs.Select(i => i.CanonicalText));

        // What the answers must be: ONNX Runtime on the CNN's own file, fed PyTorch's features of the same waves.
        using var expected = JsonDocument.Parse(await File.ReadAllTextAsync(Fixture("mel_frontend_expected.json")));
        var waves = expected.RootElement.GetProperty("waves").EnumerateArray().Select(w => w.EnumerateArray().Select(v => v.GetDouble()).ToArray())
            .Select(p => Enumerable.Range(0, 8192).Select(n => (float)((p[0] * Math.Sin(2 * Math.PI * p[1] * n / 8000.0)) + (p[2] * Math.Sin((2 * Math.PI * p[3] * n / 8000.0) + 0.3)))).ToArray()).ToArray();
        var torchFeatures = expected.RootElement.GetProperty("features").EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        var cnnBytes = await File.ReadAllBytesAsync(kws);
        using var cnn = InferenceModel.Load(cnnBytes, UploadedClassifier.OpenTensors(cnnBytes, []).Spec);
        float[] Reference(int row) => (float[])cnn.Run([new NamedTensor("features", TensorElement.Float, [1, 40, 32], torchFeatures[row])]).Single(o => o.Name == "probabilities").Data;

        await using (var node = new AggregatorNode(options))
        {
            await node.StartAsync(CancellationToken.None);
            Assert.Equal(frontBytes, node.Artifacts.Read(tensors.Preprocess.Sha256));
            Assert.Equal(ContentHash.Sha256Hex(cnnBytes), node.CurrentVersion.InferenceSha256); // the CNN's file, not one including the front end
            var card = EdgeMlOps.Aggregator.Governance.ModelCard.Build(node.Registry, node.Options, node.Monitor, node.CurrentVersion, artifacts: node.Artifacts).Markdown;
            Assert.Contains($"callers feed wave:float[-1,8192] to POST /v1/infer; the device first runs the preprocessing graph {tensors.Preprocess.Sha256} (its own file, {frontBytes.Length:N0} bytes) on 'wave', feeding the model's 'features'", card, StringComparison.Ordinal);

            await using var device = await JoinedAgent.StartAsync(node, dir, "mic-1");
            Assert.Equal(frontBytes, device.Models.ReadBlob(tensors.Preprocess.Sha256)); // fetched, checked and kept on the device
            Assert.Equal(cnnBytes, device.Models.ReadBlob(device.Agent.CurrentModel!.Inference.Sha256));
            for (var row = 0; row < 2; row++)
            {
                // Half a second of audio at a time into the session's window; once full, the window is the whole wave.
                var first = device.Agent.Infer([new NamedTensor("wave", TensorElement.Float, [1, 4096], waves[row][..4096])], "stream-" + row);
                Assert.Equal(4096, first.WindowFilled);
                var full = device.Agent.Infer([new NamedTensor("wave", TensorElement.Float, [1, 4096], waves[row][4096..])], "stream-" + row);
                Assert.Equal(8192, full.WindowFilled);
                AssertClose(Reference(row), (float[])full.Outputs.Single(o => o.Name == "probabilities").Data);
            }
        }

        // Restarted with the broker gone: the device serves what is on its disk, both files checked against their sha256.
        var offline = new DeviceAgent(
            new AgentOptions { DeviceId = "mic-1", Fleet = "mics", Broker = new MqttEndpoint("127.0.0.1", 1) },
            new AgentDependencies { Store = new SampleStore(Path.Combine(dir, "dev", "agent2.db"), 100, 100), Outbox = new Outbox(Path.Combine(dir, "dev", "outbox2.db"), 10), Models = new ModelStore(Path.Combine(dir, "dev", "models")), Http = new HttpClient() });
        await using (offline)
        {
            await offline.StartAsync(CancellationToken.None);
            Assert.Equal(1UL, offline.ModelVersion);
            var answer = offline.Infer([new NamedTensor("wave", TensorElement.Float, [1, 8192], waves[1])], sessionId: null);
            AssertClose(Reference(1), (float[])answer.Outputs.Single(o => o.Name == "probabilities").Data);
        }
    }

    /// <summary>
    /// A classifier the fleet trains, behind a front end of its own (PyTorch's soft clip in front of PyTorch's binary
    /// detector): every simulated agent fetches both files, and runs the front end when serving and before every train
    /// step; the aggregator evaluates through it. The fleet fine-tunes the detector from its uploaded weights.
    /// </summary>
    [Fact]
    public async Task ABinaryDetectorBehindASensorFrontEnd_IsFineTunedByTheFleet_ThroughTheFrontEnd()
    {
        var result = await new SimulationRunner(SimulationOptions.Parse([
            "--dataset", "synthetic", "--synthetic-dim", "8", "--synthetic-classes", "2", "--model-file", Fixture("pytorch_binary_detector.onnx"), "--trainable", "all",
            "--preprocess-file", Fixture("pytorch_sensor_frontend.onnx"),
            "--devices", "10", "--rounds", "3", "--fraction", "1", "--local-epochs", "1", "--batch", "16", "--lr", "0.1", "--seed", "1",
            "--out", "-", "--experiments", "off"])).RunAsync(CancellationToken.None);

        foreach (var r in result.Rounds) output.WriteLine($"round {r.Round}: v{r.Version} accuracy {r.Accuracy:F3}, train loss {r.TrainLoss:F3}");
        output.WriteLine($"uploaded file: accuracy {result.Initial.Accuracy:F3}");
        Assert.Equal(ContentHash.Sha256Hex(await File.ReadAllBytesAsync(Fixture("pytorch_binary_detector.onnx"))), result.Initial.InferenceSha256);
        Assert.All(result.Rounds, r => Assert.Equal(("Completed", 10, 0L), (r.Status, r.Participants, r.Rejected)));
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.2, $"fine-tuned to {result.FinalAccuracy:F3} from {result.Initial.Accuracy:F3}");
        Assert.True(result.Rounds[^1].TrainLoss < result.Rounds[0].TrainLoss);
    }

    /// <summary>
    /// Monitoring watches what the model sees behind its front end: the reference profile merged from the devices'
    /// training sketches and the served windows both hold the soft clip's outputs (2·tanh(x/2), never beyond ±2), not
    /// the raw readings callers send — so a reading shifted far out of range shows as the saturated feature it becomes.
    /// </summary>
    [Fact]
    public async Task ABinaryDetectorBehindASensorFrontEnd_IsMonitoredOnWhatItsFrontEndMakes_InTrainingAndServing()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-front-monitor-" + Guid.NewGuid().ToString("N"));
        var source = UploadedClassifier.Open(await File.ReadAllBytesAsync(Fixture("pytorch_binary_detector.onnx")),
            new UploadedClassifierOptions("all") { Preprocess = await File.ReadAllBytesAsync(Fixture("pytorch_sensor_frontend.onnx")) });
        var (pool, traffic) = EdgeMlOps.Simulator.Data.SyntheticDataset.Generate(2000, 8, 2, seed: 3).Split(800, 2);
        const int Devices = 4, Rows = 100, Served = 60;
        var parts = Enumerable.Range(0, Devices).Select(d => Enumerable.Range(d * Rows, Rows).ToArray()).ToArray();
        var options = new AggregatorOptions
        {
            Fleet = "sensors", ModelName = "detector", Model = source.Spec, ModelSource = source, EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
            Rounds = new RoundOptions { ClientsPerRound = Devices, OverSelection = 1, LocalEpochs = 1, BatchSize = 16, ReportDeadline = TimeSpan.FromSeconds(60) },
            Monitoring = new EdgeMlOps.Aggregator.Monitoring.MonitoringOptions { Window = TimeSpan.FromHours(1), ReferenceDevicesPerRound = Devices },
        };
        var clock = new DeviceClock();
        clock.Hold(DateTimeOffset.UtcNow);
        await using var fleet = await SimulatedFleet.StartAsync(
            options, new EdgeMlOps.Aggregator.Evaluation.HeldOutEvaluator(traffic.Features, traffic.Labels), pool, parts, EdgeMlOps.Agent.AgentFaults.None, 2,
            _ => new Dictionary<string, string>(), null, dir, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, CancellationToken.None,
            configure: o => o with { ProfileWindow = TimeSpan.FromHours(1) }, deviceClock: clock);
        var node = fleet.Aggregator;
        static double Front(float x) => 2 * Math.Tanh(x / 2);

        // The reference: every device's training sketch, of the front end's outputs on its samples.
        Assert.Equal(2UL, (await node.RunRoundAsync(CancellationToken.None)).NewVersion);
        await fleet.WaitForVersionAsync(2, TimeSpan.FromSeconds(60), CancellationToken.None);
        var reference = node.Monitor.Reference(2)!;
        var trained = parts.SelectMany(p => p).ToArray();
        Assert.Equal(8, reference.Features.Length);
        for (var f = 0; f < 8; f++)
        {
            var front = trained.Select(i => Front(pool.Features[(i * 8) + f])).ToArray();
            var raw = trained.Select(i => (double)pool.Features[(i * 8) + f]).ToArray();
            static double Variance(double[] v) => v.Sum(x => (x - v.Average()) * (x - v.Average())) / (v.Length - 1);
            Assert.Equal((long)trained.Length, (long)reference.Features[f].Count);
            Assert.True(Variance(raw) > 2 * Variance(front), $"feature {f}: the clip narrows the spread ({Variance(front)} vs {Variance(raw)})"); // the data tells the two apart
            Assert.Equal(front.Average(), reference.Features[f].Mean, 3);
            Assert.Equal(Variance(front), reference.Features[f].Variance, 3);
        }

        // Served windows: readings with feature 0 shifted by 8 arrive clipped near 2, as the detector sees them.
        var windowIndex = node.Monitor.WindowOf(clock.GetUtcNow());
        var shifted = new List<float>();
        foreach (var agent in fleet.Agents)
        {
            for (var i = 0; i < Served; i++)
            {
                var x = traffic.Row(shifted.Count % traffic.Count);
                x[0] += 8;
                shifted.Add(x[0]);
                agent.Predict(x);
            }

            agent.FlushProfile();
        }

        await Eventually.Until(() => node.Monitor.Window(2, EdgeMlOps.Aggregator.Monitoring.FleetMonitor.AllCohorts, windowIndex)?.Predictions >= Devices * Served, "every device's window", 30);
        var window = node.Monitor.Window(2, EdgeMlOps.Aggregator.Monitoring.FleetMonitor.AllCohorts, windowIndex)!;
        Assert.Equal(Devices * Served, (int)window.Features[0].Count);
        Assert.Equal(shifted.Average(x => Front(x)), window.Features[0].Mean, 3);
        Assert.True(window.Features[0].Mean is > 1.5 and < 2, $"served feature 0 reads {window.Features[0].Mean}; raw readings average {shifted.Average()}");
        output.WriteLine($"feature 0: reference mean {reference.Features[0].Mean:F3}, served (shifted by 8) {window.Features[0].Mean:F3}; raw readings average {shifted.Average():F3}");
        var card = EdgeMlOps.Aggregator.Governance.ModelCard.Build(node.Registry, node.Options, node.Monitor, node.CurrentVersion, artifacts: node.Artifacts).Markdown;
        Assert.Contains("feeding the model's 'features' [8] — serving and before every train step; monitoring sketches those 8 features", card, StringComparison.Ordinal);
    }

    private static void AssertClose(float[] expected, float[] actual) =>
        Assert.True(expected.Length == actual.Length && expected.Zip(actual).All(p => Math.Abs(p.First - p.Second) <= 1e-4), $"{string.Join(", ", actual)} vs ONNX Runtime on PyTorch's features {string.Join(", ", expected)}");
}
