using EdgeMlOps.Shared.Hashing;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A regressor made by other people's tools, fine-tuned by the fleet: PyTorch's MLP trained on scikit-learn's diabetes
/// patients of one sex (<c>export_diabetes_regressor.py</c>), uploaded as its file, served and trained by real agents
/// over MQTT on both sexes' float targets with the generated mean-squared-error step, scored by the aggregator on
/// held-out patients by MSE and R².
/// </summary>
[Collection(FleetCollection.Name)]
public class RegressionFleetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public async Task PyTorchsDiabetesRegressor_IsFineTunedByTheFleet_OnTargets_AndHeldOutErrorFalls()
    {
        var result = await new SimulationRunner(SimulationOptions.Parse([
            "--dataset", "csv:" + Fixture("diabetes.csv"), "--regression", "--model-file", Fixture("pytorch_diabetes_regressor.onnx"), "--trainable", "all",
            "--test-size", "110", "--devices", "10", "--rounds", "5", "--fraction", "1", "--local-epochs", "5", "--batch", "8", "--lr", "0.02", "--seed", "1",
            "--out", "-", "--experiments", "off"])).RunAsync(CancellationToken.None);

        output.WriteLine($"uploaded file: R² {result.Initial.Accuracy:F4}");
        foreach (var r in result.Rounds) output.WriteLine($"round {r.Round}: v{r.Version} R² {r.Accuracy:F4}, MSE {r.Loss:F4}, devices' train MSE {r.TrainLoss:F4}");
        Assert.Equal(ContentHash.Sha256Hex(await File.ReadAllBytesAsync(Fixture("pytorch_diabetes_regressor.onnx"))), result.Initial.InferenceSha256);
        Assert.All(result.Rounds, r => Assert.Equal(("Completed", 10, 0L), (r.Status, r.Participants, r.Rejected)));
        Assert.InRange(result.Initial.Accuracy, 0.3, 0.5); // PyTorch's fit on one sex: R² 0.42 on these 110 patients
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.02, $"R² {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
        Assert.True(result.Rounds[^1].Loss < result.Rounds[0].Loss, "held-out MSE falls over the rounds");
        Assert.True(result.Rounds.All(r => double.IsFinite(r.TrainLoss) && r.TrainLoss > 0), "devices report their training MSE");
    }

    /// <summary>
    /// The same regressor in a fleet that watches it: the devices' training sketches become the version's reference, served
    /// predictions and their targets reach the aggregator's window, and the model card says what the model is.
    /// </summary>
    [Fact]
    public async Task ARegressorsFleet_KeepsAReference_MonitorsServedRequests_AndTakesTargetsByPredictionId()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-regression-" + Guid.NewGuid().ToString("N"));
        var source = EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(await File.ReadAllBytesAsync(Fixture("pytorch_diabetes_regressor.onnx")),
            new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("all") { Regression = true });
        var (pool, test) = EdgeMlOps.Simulator.Data.CsvRegressionDataset.Load(Fixture("diabetes.csv"), 1).Split(110, 1);
        const int Devices = 4, Rows = 80, Served = 30;
        var parts = Enumerable.Range(0, Devices).Select(d => Enumerable.Range(d * Rows, Rows).ToArray()).ToArray();
        var options = new EdgeMlOps.Aggregator.AggregatorOptions
        {
            Fleet = "clinic", ModelName = "progression", Model = source.Spec, ModelSource = source, EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
            Rounds = new EdgeMlOps.Aggregator.RoundOptions { ClientsPerRound = Devices, OverSelection = 1, LocalEpochs = 5, BatchSize = 8, LearningRate = 0.02f, ReportDeadline = TimeSpan.FromSeconds(60) },
            Monitoring = new EdgeMlOps.Aggregator.Monitoring.MonitoringOptions { Window = TimeSpan.FromHours(1), ReferenceDevicesPerRound = Devices },
        };
        var clock = new DeviceClock();
        clock.Hold(DateTimeOffset.UtcNow);
        await using var fleet = await SimulatedFleet.StartAsync(
            options, new EdgeMlOps.Aggregator.Evaluation.HeldOutTargetsEvaluator(test.Features, test.Targets!, 1), pool, parts, EdgeMlOps.Agent.AgentFaults.None, 2,
            _ => new Dictionary<string, string>(), null, dir, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, CancellationToken.None,
            configure: o => o with { ProfileWindow = TimeSpan.FromHours(1) }, deviceClock: clock);
        var node = fleet.Aggregator;
        var before = node.CurrentVersion.EvalAccuracy!.Value;
        var report = await node.RunRoundAsync(CancellationToken.None);
        Assert.Equal(2UL, report.NewVersion);
        await fleet.WaitForVersionAsync(2, TimeSpan.FromSeconds(60), CancellationToken.None);
        output.WriteLine($"one round of 4 devices: R² {before:F4} → {node.CurrentVersion.EvalAccuracy:F4}");

        // The reference: the devices' training sketches of their samples (no classes: a regressor predicts values).
        var reference = node.Monitor.Reference(2)!;
        Assert.Equal(10, reference.Features.Length);
        Assert.All(reference.Features, f => Assert.Equal((long)(Devices * Rows), f.Count));

        // Served: values as the version's file computes them; targets back by prediction id; every request in the window.
        using var v2 = EdgeMlOps.Runtime.InferenceModel.Load(node.Artifacts.Read(node.CurrentVersion.InferenceSha256)!, options.Model);
        var window = node.Monitor.WindowOf(clock.GetUtcNow());
        var row = 0;
        foreach (var agent in fleet.Agents)
        {
            for (var i = 0; i < Served; i++, row++)
            {
                var x = test.Row(row % test.Count);
                var answer = agent.PredictValues(x);
                Assert.Equal(v2.PredictValues(x, 1).Values[0], answer.Values[0], 5);
                Assert.True(agent.FeedbackTarget(answer.PredictionId, test.TargetRow(row % test.Count)));
            }

            agent.FlushProfile();
        }

        await Eventually.Until(() => node.Monitor.Window(2, EdgeMlOps.Aggregator.Monitoring.FleetMonitor.AllCohorts, window)?.Predictions >= Devices * Served, "every device's window", 30);
        Assert.All(node.Monitor.Window(2, EdgeMlOps.Aggregator.Monitoring.FleetMonitor.AllCohorts, window)!.Features, f => Assert.Equal((long)(Devices * Served), f.Count));
        var card = EdgeMlOps.Aggregator.Governance.ModelCard.Build(node.Registry, node.Options, node.Monitor, node.CurrentVersion, artifacts: node.Artifacts).Markdown;
        Assert.Contains("a regressor: one regression value per row from 'progression', trained with mean squared error on the devices' targets; scored by MSE and R²", card, StringComparison.Ordinal);
    }
}
