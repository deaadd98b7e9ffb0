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

    /// <summary>
    /// 10 real agents fine-tune <paramref name="model"/> on <paramref name="csv"/> (110 patients held out) for 5 rounds;
    /// every round completes with all 10 and version 1 is the file byte for byte.
    /// </summary>
    private async Task<SimulationResult> FineTuneAsync(string csv, string model, params string[] more)
    {
        var result = await new SimulationRunner(SimulationOptions.Parse([
            "--dataset", "csv:" + Fixture(csv), "--regression", "--model-file", Fixture(model), "--trainable", "all", .. more,
            "--test-size", "110", "--devices", "10", "--rounds", "5", "--fraction", "1", "--local-epochs", "5", "--batch", "8", "--lr", "0.02", "--seed", "1",
            "--out", "-", "--experiments", "off"])).RunAsync(CancellationToken.None);

        output.WriteLine($"uploaded file: R² {result.Initial.Accuracy:F4}");
        foreach (var r in result.Rounds) output.WriteLine($"round {r.Round}: v{r.Version} R² {r.Accuracy:F4}, MSE {r.Loss:F4}, devices' train MSE {r.TrainLoss:F4}");
        Assert.Equal(ContentHash.Sha256Hex(await File.ReadAllBytesAsync(Fixture(model))), result.Initial.InferenceSha256);
        Assert.All(result.Rounds, r => Assert.Equal(("Completed", 10, 0L), (r.Status, r.Participants, r.Rejected)));
        return result;
    }

    [Fact]
    public async Task PyTorchsDiabetesRegressor_IsFineTunedByTheFleet_OnTargets_AndHeldOutErrorFalls()
    {
        var result = await FineTuneAsync("diabetes.csv", "pytorch_diabetes_regressor.onnx");
        Assert.InRange(result.Initial.Accuracy, 0.3, 0.5); // PyTorch's fit on one sex: R² 0.42 on these 110 patients
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.02, $"R² {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
        Assert.True(result.Rounds[^1].Loss < result.Rounds[0].Loss, "held-out MSE falls over the rounds");
        Assert.True(result.Rounds.All(r => double.IsFinite(r.TrainLoss) && r.TrainLoss > 0), "devices report their training MSE");
    }

    /// <summary>
    /// The same patients through a model with two inputs (<c>export_diabetes_two_inputs.py</c>: nine measurements, and
    /// the sex as an id into an embedding trained on one sex only): real agents keep rows of the measurements then the
    /// id, and the fleet learns the embedding of the sex the upload never saw. Again with the sex a string ("1" or "2",
    /// one-hot encoded by ai.onnx.ml inside the model, <c>export_diabetes_string_sex.py</c>): the agents feed ONNX
    /// Runtime strings for serving and training alike, from rows holding each string's category index.
    /// </summary>
    [Theory]
    [InlineData("pytorch_diabetes_two_inputs.onnx")]
    [InlineData("pytorch_diabetes_string_sex.onnx")]
    public async Task AModelWithAContextInput_IsFineTunedByTheFleet_AndHeldOutErrorFalls(string model)
    {
        var result = await FineTuneAsync("diabetes_two_inputs.csv", model, "--model-input", "measurements");
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.1, $"R² {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
        Assert.True(result.Rounds[^1].Loss < result.Rounds[0].Loss, "held-out MSE falls over the rounds");
    }

    /// <summary>
    /// The same regressor in a fleet that watches it: the devices' training sketches become the version's reference, served
    /// predictions and their targets reach the aggregator's window, and the model card says what the model is. The
    /// version's first production values become its prediction reference; an hour later the clinic sees only its
    /// heaviest patients, the predicted progression moves, and the fleet says so (log, alert, /metrics) and retrains.
    /// </summary>
    [Fact]
    public async Task ARegressorsFleet_KeepsAReference_MonitorsServedRequests_TakesTargetsByPredictionId_AndCatchesPredictionDrift()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-regression-" + Guid.NewGuid().ToString("N"));
        var source = EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(await File.ReadAllBytesAsync(Fixture("pytorch_diabetes_regressor.onnx")),
            new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("all") { Regression = true });
        var (pool, test) = EdgeMlOps.Simulator.Data.CsvTargetDataset.Load(Fixture("diabetes.csv"), 1).Split(110, 1);
        const int Devices = 4, Rows = 80, Served = 60;
        var parts = Enumerable.Range(0, Devices).Select(d => Enumerable.Range(d * Rows, Rows).ToArray()).ToArray();
        var options = new EdgeMlOps.Aggregator.AggregatorOptions
        {
            Fleet = "clinic", ModelName = "progression", Model = source.Spec, ModelSource = source, EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
            Rounds = new EdgeMlOps.Aggregator.RoundOptions { ClientsPerRound = Devices, OverSelection = 1, LocalEpochs = 5, BatchSize = 8, LearningRate = 0.02f, ReportDeadline = TimeSpan.FromSeconds(60) },
            Monitoring = new EdgeMlOps.Aggregator.Monitoring.MonitoringOptions { Window = TimeSpan.FromHours(1), ReferenceDevicesPerRound = Devices, RetrainOn = EdgeMlOps.Aggregator.Monitoring.RetrainTrigger.Prediction },
            Governance = new EdgeMlOps.Aggregator.Governance.GovernanceOptions { Identities = [ViewerIdentity.Admin] },
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

        // Every window profile carried the values served: 240 of them; evaluated, that window is v2's prediction reference.
        var served = node.Monitor.Window(2, EdgeMlOps.Aggregator.Monitoring.FleetMonitor.AllCohorts, window)!;
        Assert.Equal((long)(Devices * Served), Assert.Single(served.Outputs).Count);
        var steady = (await node.EvaluateDriftAsync(window, CancellationToken.None)).Single(r => r.Version == 2 && r.Cohort == "all");
        Assert.Equal((1, false), (steady.OutputsJudged, steady.PredictionDrift));
        Assert.Equal((long)(Devices * Served), node.Monitor.PredictionReference(2)!.Outputs[0].Count);

        // An hour later only the heaviest third of the patients (body-mass index, input 2) come: their inputs and their
        // predicted progression move.
        clock.Hold(clock.GetUtcNow().AddHours(1));
        var heavy = Enumerable.Range(0, test.Count).OrderByDescending(r => test.Row(r)[2]).Take(test.Count / 3).ToArray();
        var later = node.Monitor.WindowOf(clock.GetUtcNow());
        foreach (var agent in fleet.Agents)
        {
            for (var i = 0; i < Served; i++) agent.PredictValues(test.Row(heavy[i % heavy.Length]));
            agent.FlushProfile();
        }

        await Eventually.Until(() => node.Monitor.Window(2, EdgeMlOps.Aggregator.Monitoring.FleetMonitor.AllCohorts, later)?.Predictions >= Devices * Served, "every device's later window", 30);
        clock.Release(); // back to real time: a device an hour ahead takes the triggered round's task as expired
        var moved = (await node.EvaluateDriftAsync(later, CancellationToken.None)).Single(r => r.Version == 2 && r.Cohort == "all");
        output.WriteLine($"prediction drift: {string.Join(", ", moved.DriftedOutputs.Select(o => $"{o.Method} {o.Score:G3}"))}; inputs drifted {moved.Drifted} of {moved.Judged}");
        Assert.True(moved.PredictionDrift);
        Assert.Equal(("ks", 0), (moved.DriftedOutputs[0].Method, moved.DriftedOutputs[0].Feature));
        Assert.True(moved.DriftedOutputs[0].Score < 1e-6, $"p = {moved.DriftedOutputs[0].Score}");
        using var http = Viewer.Client(node.ArtifactBaseUrl);
        Assert.Contains("edgemlops_prediction_drift_score{model_version=\"2\",cohort=\"all\",output=\"0\",method=\"ks\"}", await http.GetStringAsync("/metrics"), StringComparison.Ordinal);

        // Monitoring:RetrainOn=prediction: the drifted head starts a round, audited with the reason.
        await Eventually.Until(() => node.Registry.Rounds("progression").Count == 2, "the round prediction drift started", 60);
        Assert.Contains(node.Audit.Entries("model/progression"), e => e.Action == "round.trigger" && e.Reason.StartsWith("prediction drift in cohort all of v2", StringComparison.Ordinal));
    }

    /// <summary>
    /// Governance works for a regressor: its first version and a version the fleet trained are approved and rolled out,
    /// the trained one after a shadow phase in which both devices score it beside the served version and pair both
    /// versions' squared errors with the targets callers send; a version confidently worse (its bias off by 3) fails its
    /// shadow on those errors and never serves; one worse still, staged without a shadow, is stopped at its first stage on
    /// the devices' MSE against the replaced version's. An A/B test on class accuracy is refused with the reason.
    /// </summary>
    [Fact]
    public async Task AGovernedRegressor_IsShadowedOnItsSquaredErrors_ThenRolledOut_AndWorseVersionsFailTheirShadowAndTheirFirstStage()
    {
        await using var fleet = await GovernedTargetFleet.StartAsync(
            Fixture("pytorch_diabetes_regressor.onnx"), "regression", "progression",
            new EdgeMlOps.Aggregator.RoundOptions { ClientsPerRound = 2, OverSelection = 1, LocalEpochs = 5, BatchSize = 8, LearningRate = 0.02f, ReportDeadline = TimeSpan.FromSeconds(60) },
            Fixture("diabetes.csv"), targetColumns: 1, training: 150, asked: (300, 142), "clinic-a", "clinic-b"); // callers ask about patients no device trained on
        var (node, agents) = (fleet.Node, fleet.Agents);
        var (gates, window, shadow) = (GovernedTargetFleet.Gates, GovernedTargetFleet.Window, GovernedTargetFleet.Shadow);

        // A round on the devices' targets makes v2; approved, it is shadowed on both devices, judged on paired squared errors, and rolled out.
        var refused = await fleet.DeployFirstThenTrainSecondAsync("trained on both clinics");
        Assert.Contains("a regressor's A/B test compares the arms' mean squared error on targets: metric 'mse'", refused, StringComparison.Ordinal); // the default metric counts class labels
        await node.Rollouts.CreateAsync("bob", new EdgeMlOps.Aggregator.Rollouts.RolloutRequest { Version = 2, Stages = [1.0], Health = window, Gates = gates, Shadow = shadow }, CancellationToken.None);
        await fleet.Until(() => node.Rollouts.Current!.State == EdgeMlOps.Aggregator.Rollouts.RolloutStatusKind.Completed, "v2 shadowed, then everywhere", 120);
        await Eventually.Until(() => agents.All(x => x.ModelVersion == 2), "both devices on v2", 30);
        var passed = node.Rollouts.View(node.Rollouts.All().Single(r => r.Request.Version == 2)).Shadow!;
        output.WriteLine($"v2's shadow: {passed.Labelled} labelled pairs, MSE {passed.CandidateMse:F4} against v1's {passed.IncumbentMse:F4}, mean |Δ| {passed.MeanValueDifference:F4}");
        Assert.True(passed.Labelled >= 60 && passed.CandidateMse < passed.IncumbentMse * 1.05, $"{passed.Labelled} pairs, MSE {passed.CandidateMse} vs {passed.IncumbentMse}");

        // v3: v2's file with its output bias raised by 3 (every value 3 too high): confidently worse in the shadow; it never serves.
        var wrong = node.CurrentWeights.Clone();
        wrong.Values[wrong.Layout.Tensors.Single(t => t.Name == "head.bias").Offset] += 3f;
        var v3 = await node.RegisterVersionAsync(wrong, "dana", "a bias gone wrong", CancellationToken.None);
        node.Governance.Approve("alice", "progression", v3.Version, "looks fine");
        await node.Rollouts.CreateAsync("bob", new EdgeMlOps.Aggregator.Rollouts.RolloutRequest { Version = v3.Version, Stages = [1.0], Health = window, Gates = gates, Shadow = shadow }, CancellationToken.None);
        await fleet.Until(() => node.Rollouts.Current!.State == EdgeMlOps.Aggregator.Rollouts.RolloutStatusKind.Aborted, "v3's shadow to fail", 120);
        var failed = node.Rollouts.View(node.Rollouts.Current!);
        output.WriteLine($"v3's shadow: {failed.Rollout.Note}");
        Assert.Contains("ground-truth MSE", failed.Rollout.Note, StringComparison.Ordinal);
        Assert.All(agents, x => Assert.Equal(2UL, x.ModelVersion));

        // The devices' statuses carry the served version's squared errors on the targets callers send back.
        await Eventually.Until(() => agents.All(x => node.Devices.TryGet(x.DeviceId, out var d) && d.FeedbackCount >= 30 && d.FeedbackSquaredErrorSum > 0), "squared errors in both devices' statuses", 30);
        foreach (var x in agents)
        {
            Assert.True(node.Devices.TryGet(x.DeviceId, out var d));
            output.WriteLine($"{x.DeviceId} on v2: MSE {d.FeedbackSquaredErrorSum / d.FeedbackCount:F4} over {d.FeedbackCount} targets");
            Assert.InRange(d.FeedbackSquaredErrorSum / d.FeedbackCount, 0.1, 1.0); // v2 on patients 300–441: MSE about 0.35
        }

        // v4: the registry's head (v3) with its bias raised by 2.5 more, rolled out in stages without a shadow: the stage gate compares the one device on
        // it with the one still on v2 by their squared errors and stops it. Stage membership hashes the rollout id; a
        // plan that puts both devices on one side is withdrawn and made again until they are split.
        var worse = node.CurrentWeights.Clone();
        worse.Values[worse.Layout.Tensors.Single(t => t.Name == "head.bias").Offset] += 2.5f;
        var v4 = await node.RegisterVersionAsync(worse, "dana", "the same mistake, staged", CancellationToken.None);
        node.Governance.Approve("alice", "progression", v4.Version, "looks fine");
        var staged = await StagedSplitting(v4.Version);
        await fleet.Until(() => node.Rollouts.Find(staged)!.State is EdgeMlOps.Aggregator.Rollouts.RolloutStatusKind.Aborted or EdgeMlOps.Aggregator.Rollouts.RolloutStatusKind.Completed, "v4's first stage to fail on MSE", 120);
        var stopped = node.Rollouts.View(node.Rollouts.Find(staged)!);
        output.WriteLine($"v4's stage: {stopped.Rollout.Note}");
        var g = stopped.Gate;
        Assert.True(stopped.Rollout.State == EdgeMlOps.Aggregator.Rollouts.RolloutStatusKind.Aborted,
            $"v4 {stopped.Rollout.State} ({stopped.Rollout.Note}); last gate {g.Verdict}: {g.TargetFeedback} and {g.BaselineFeedback} labels, MSE {g.TargetSquaredError} against {g.BaselineSquaredError}");
        Assert.Contains("ground-truth MSE", stopped.Rollout.Note, StringComparison.Ordinal);
        Assert.Contains("on the replaced version", stopped.Rollout.Note, StringComparison.Ordinal);
        await Eventually.Until(() => agents.All(x => x.ModelVersion == 2), "both devices back on v2", 30);

        // A staged rollout of version to both devices whose first stage (half) holds exactly one of them; its id.
        async Task<string> StagedSplitting(ulong version)
        {
            for (var attempt = 0; attempt < 30; attempt++)
            {
                // Both devices' statuses hold enough targets on v2 (a switch back after an attempt resets them): with none on
                // the replaced side the gate has nothing to compare and passes on health alone.
                await Eventually.Until(() => agents.All(x => x.ModelVersion == 2 && node.Devices.TryGet(x.DeviceId, out var d) && d.ModelVersion == 2 && d.FeedbackCount >= 60), "both devices' statuses with 60 targets on v2", 60);
                var rollout = await node.Rollouts.CreateAsync("bob", new EdgeMlOps.Aggregator.Rollouts.RolloutRequest { Version = version, Stages = [0.5, 1.0], Health = window, Gates = gates }, CancellationToken.None);
                if (agents.Count(x => EdgeMlOps.Shared.Rollouts.RolloutMembership.Position(x.DeviceId, rollout.Id) < 0.5) == 1) return rollout.Id;
                await node.Rollouts.AbortAsync("bob", rollout.Id, "both devices in one stage; made again", CancellationToken.None);
                await Eventually.Until(() => agents.All(x => x.ModelVersion == 2), "both devices on v2 again", 30);
                await Task.Delay(5); // the next rollout id (milliseconds) differs
            }

            throw new InvalidOperationException("no rollout id split the two devices in 30 attempts");
        }
    }
}
