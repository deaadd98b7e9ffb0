using EdgeMlOps.Shared.Hashing;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A multi-label classifier made by other people's tools, fine-tuned and governed by the fleet: PyTorch's MLP scoring four
/// attributes of scikit-learn's digit scans (even, five or more, prime, a closed loop), trained on digits 0–4 only
/// (<c>export_digit_attributes.py</c>), uploaded as its file, trained by real agents over MQTT on every digit's 0/1 label
/// vectors with the generated binary cross-entropy step, scored by held-out label accuracy, and shadowed on paired
/// Brier scores before it serves.
/// </summary>
[Collection(FleetCollection.Name)]
public class MultiLabelFleetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public async Task PyTorchsDigitAttributes_AreFineTunedByTheFleet_OnLabelVectors_AndHeldOutLabelAccuracyRises()
    {
        var result = await new SimulationRunner(SimulationOptions.Parse([
            "--dataset", "csv:" + Fixture("digit_attributes.csv"), "--target-columns", "4", "--multilabel", "--model-file", Fixture("pytorch_digit_attributes.onnx"),
            "--trainable", "all", "--test-size", "397", "--devices", "10", "--rounds", "5", "--fraction", "1", "--local-epochs", "5", "--batch", "16", "--lr", "0.3",
            "--seed", "1", "--out", "-", "--experiments", "off"])).RunAsync(CancellationToken.None);

        output.WriteLine($"uploaded file: label accuracy {result.Initial.Accuracy:F4}");
        foreach (var r in result.Rounds) output.WriteLine($"round {r.Round}: v{r.Version} label accuracy {r.Accuracy:F4}, binary cross-entropy {r.Loss:F4}, devices' train loss {r.TrainLoss:F4}");
        Assert.Equal(ContentHash.Sha256Hex(await File.ReadAllBytesAsync(Fixture("pytorch_digit_attributes.onnx"))), result.Initial.InferenceSha256);
        Assert.All(result.Rounds, r => Assert.Equal(("Completed", 10, 0L), (r.Status, r.Participants, r.Rejected)));
        Assert.InRange(result.Initial.Accuracy, 0.6, 0.8); // PyTorch's fit on digits 0–4: about 0.7 of the decisions on every digit
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.15, $"label accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
        Assert.True(result.Rounds[^1].Loss < result.Rounds[0].Loss, "held-out binary cross-entropy falls over the rounds");
        Assert.True(result.Rounds.All(r => double.IsFinite(r.TrainLoss) && r.TrainLoss > 0), "devices report their training loss");
    }

    /// <summary>
    /// Governed, with two real agents answering callers: the fleet's trained v2 is shadowed against v1 on the squared errors
    /// of their probabilities against the callers' label vectors (the Brier score) and rolled out; a v3 whose "even" label
    /// is always on fails its shadow and never serves.
    /// </summary>
    [Fact]
    public async Task AGovernedMultiLabelClassifier_IsShadowedOnBrierScores_ThenRolledOut_AndWorseVersionsFailTheirShadowAndTheirAbTest()
    {
        await using var fleet = await GovernedTargetFleet.StartAsync(
            Fixture("pytorch_digit_attributes.onnx"), "multilabel", "attributes",
            new EdgeMlOps.Aggregator.RoundOptions { ClientsPerRound = 2, OverSelection = 1, LocalEpochs = 5, BatchSize = 16, LearningRate = 0.3f, ReportDeadline = TimeSpan.FromSeconds(60) },
            Fixture("digit_attributes.csv"), targetColumns: 4, training: 600, asked: (1200, 597), "camera-a", "camera-b"); // callers ask about scans no device trained on
        var (node, agents) = (fleet.Node, fleet.Agents);
        var (gates, window, shadow) = (GovernedTargetFleet.Gates, GovernedTargetFleet.Window, GovernedTargetFleet.Shadow);
        Assert.True(node.Options.Model.IsMultiLabel);

        var refused = await fleet.DeployFirstThenTrainSecondAsync("trained on every digit");
        Assert.Contains("a multi-label classifier's A/B test compares the arms' mean squared error on targets", refused, StringComparison.Ordinal);
        await node.Rollouts.CreateAsync("bob", new EdgeMlOps.Aggregator.Rollouts.RolloutRequest { Version = 2, Stages = [1.0], Health = window, Gates = gates, Shadow = shadow }, CancellationToken.None);
        await fleet.Until(() => node.Rollouts.Current!.State == EdgeMlOps.Aggregator.Rollouts.RolloutStatusKind.Completed, "v2 shadowed, then everywhere", 120);
        await Eventually.Until(() => agents.All(x => x.ModelVersion == 2), "both devices on v2", 30);
        var passed = node.Rollouts.View(node.Rollouts.All().Single(r => r.Request.Version == 2)).Shadow!;
        output.WriteLine($"v2's shadow: {passed.Labelled} labelled pairs, Brier score {passed.CandidateMse:F4} against v1's {passed.IncumbentMse:F4}, mean |Δp| {passed.MeanValueDifference:F4}");
        Assert.True(passed.Labelled >= 60 && passed.CandidateMse < passed.IncumbentMse, $"{passed.Labelled} pairs, Brier {passed.CandidateMse} vs {passed.IncumbentMse}");

        // v3: v2 with the "even" label's bias raised by 20 (always on): confidently worse in the shadow; it never serves.
        var v2Weights = node.CurrentWeights.Clone();
        var wrong = node.CurrentWeights.Clone();
        wrong.Values[wrong.Layout.Tensors.Single(t => t.Name == "head.bias").Offset] += 20f;
        var v3 = await node.RegisterVersionAsync(wrong, "dana", "a bias gone wrong", CancellationToken.None);
        node.Governance.Approve("alice", "attributes", v3.Version, "looks fine");
        await node.Rollouts.CreateAsync("bob", new EdgeMlOps.Aggregator.Rollouts.RolloutRequest { Version = v3.Version, Stages = [1.0], Health = window, Gates = gates, Shadow = shadow }, CancellationToken.None);
        await fleet.Until(() => node.Rollouts.Current!.State == EdgeMlOps.Aggregator.Rollouts.RolloutStatusKind.Aborted, "v3's shadow to fail", 120);
        var failed = node.Rollouts.View(node.Rollouts.Current!);
        output.WriteLine($"v3's shadow: {failed.Rollout.Note}");
        Assert.Contains("ground-truth Brier score", failed.Rollout.Note, StringComparison.Ordinal);
        Assert.All(agents, x => Assert.Equal(2UL, x.ModelVersion));

        // v4: v2 with the "five or more" label always on, in an A/B test on both devices: half of each device's requests
        // are answered by v4, each arm's squared errors counted as targets come back; the sequential test stops it.
        var alwaysFive = v2Weights.Clone();
        alwaysFive.Values[alwaysFive.Layout.Tensors.Single(t => t.Name == "head.bias").Offset + 1] += 20f;
        var v4 = await node.RegisterVersionAsync(alwaysFive, "dana", "five or more, always", CancellationToken.None);
        node.Governance.Approve("alice", "attributes", v4.Version, "looks fine");
        var test = new EdgeMlOps.Aggregator.Rollouts.ExperimentRequest
        {
            Share = 1.0, Split = 0.5, Metric = "mse", HigherIsBetter = false,
            Design = new EdgeMlOps.Aggregator.Experiments.ExperimentDesign { Mode = EdgeMlOps.Aggregator.Experiments.ExperimentMode.Sequential, MinDetectableEffect = 0.05, StandardDeviation = 0.2 },
        };
        await node.Rollouts.CreateAsync("bob", new EdgeMlOps.Aggregator.Rollouts.RolloutRequest { Version = v4.Version, Stages = [1.0], Health = window, Gates = gates, Experiment = test }, CancellationToken.None);
        await fleet.Until(() => node.Rollouts.Current!.State == EdgeMlOps.Aggregator.Rollouts.RolloutStatusKind.Aborted, "v4's A/B test to stop it", 120);
        var stopped = node.Rollouts.View(node.Rollouts.Current!);
        output.WriteLine($"v4's A/B test: {stopped.Rollout.Note}");
        Assert.Contains("higher on mean squared error", stopped.Rollout.Note, StringComparison.Ordinal);
        Assert.True(stopped.Experiment!.ValueB > stopped.Experiment.ValueA, $"B {stopped.Experiment.ValueB} against A {stopped.Experiment.ValueA}");
        await Eventually.Until(() => agents.All(x => x.ModelVersion == 2), "both devices serving v2 alone", 30);

        // The model card says what the model is, with the fleet's monitoring of it.
        var card = EdgeMlOps.Aggregator.Governance.ModelCard.Build(node.Registry, node.Options, node.Monitor, node.Registry.Version("attributes", 2)!, artifacts: node.Artifacts).Markdown;
        Assert.Contains("a multi-label classifier: 4 independent label probabilities per row, any number of labels true from 'attributes'", card, StringComparison.Ordinal);
        Assert.Contains("scored by binary cross-entropy and the share of label decisions right", card, StringComparison.Ordinal);
    }
}
