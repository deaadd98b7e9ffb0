using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Google.Protobuf;

namespace EdgeMlOps.Runtime.Tests;

public class TrainStepModelTests
{
    public static TheoryData<string> Specs => new() { "logreg-5-3", "mlp-6-5-3", "mlp-4-7-5-3" };

    [Theory]
    [MemberData(nameof(Specs))]
    public void TrainStep_Gradients_MatchFiniteDifferences(string specText)
    {
        var spec = ModelSpecText.Parse(specText);
        var weights = ModelWeights.Initialize(spec, seed: 11);
        // Non-zero biases so every gradient path is exercised.
        var random = new Random(5);
        foreach (var t in weights.Layout.Tensors.Where(t => t.Dims.Length == 1))
            for (var i = 0; i < t.Length; i++) weights.Values[t.Offset + i] = (float)(random.NextDouble() - 0.5);
        var (x, y) = SyntheticBlobs.Make(9, spec.InputDim, spec.Classes, seed: 3, spread: 2);

        using var model = TrainStepModel.Build(spec);
        // One full-batch step with lr = 1: new = w - grad, so grad = w - new.
        var result = model.Train(weights.Values, x, y, new LocalTrainingPlan(1, y.Length, 1f, 0));
        var analytic = weights.Values.Zip(result.Weights, (w, n) => (double)w - n).ToArray();

        var w64 = weights.Values.Select(v => (double)v).ToArray();
        var numeric = new double[w64.Length];
        const double h = 1e-5;
        for (var i = 0; i < w64.Length; i++)
        {
            var keep = w64[i];
            w64[i] = keep + h;
            var plus = ReferenceMlp.Loss(spec, w64, x, y);
            w64[i] = keep - h;
            var minus = ReferenceMlp.Loss(spec, w64, x, y);
            w64[i] = keep;
            numeric[i] = (plus - minus) / (2 * h);
        }

        var diff = Math.Sqrt(analytic.Zip(numeric, (a, b) => (a - b) * (a - b)).Sum());
        var norm = Math.Sqrt(numeric.Sum(v => v * v));
        Assert.True(norm > 1e-3, "gradient should not vanish on this data");
        Assert.True(diff / norm < 1e-4, $"relative gradient error {diff / norm:E2}");
        Assert.Equal(ReferenceMlp.Loss(spec, weights.Values.Select(v => (double)v).ToArray(), x, y), result.InitialLoss, 4);
    }

    [Fact]
    public void ProximalTerm_PullsTowardsTheRoundStart_ByMuTimesTheDrift()
    {
        // Two full-batch steps at lr = 1. The first is the same with or without FedProx (w = anchor);
        // the second differs exactly by −μ(w1 − w0), the gradient of (μ/2)‖w − w0‖².
        var spec = ModelSpecText.Parse("mlp-6-5-3");
        var w0 = ModelWeights.Initialize(spec, seed: 4).Values;
        var (x, y) = SyntheticBlobs.Make(12, spec.InputDim, spec.Classes, seed: 8, spread: 2);
        using var model = TrainStepModel.Build(spec);
        var w1 = model.Train(w0, x, y, new LocalTrainingPlan(1, y.Length, 1f, 0)).Weights;
        var plain = model.Train(w0, x, y, new LocalTrainingPlan(2, y.Length, 1f, 0)).Weights;
        var prox = model.Train(w0, x, y, new LocalTrainingPlan(2, y.Length, 1f, 0, ProximalMu: 0.5f)).Weights;
        for (var i = 0; i < w0.Length; i++) Assert.Equal(-0.5f * (w1[i] - w0[i]), prox[i] - plain[i], 5);
        Assert.Throws<ArgumentException>(() => model.Train(w0, x, y, new LocalTrainingPlan(1, 4, 1f, 0, ProximalMu: float.NaN)));
    }

    [Theory]
    [InlineData("logreg-2-3")]
    [InlineData("mlp-2-16-3")]
    public void Train_OnSeparableBlobs_ReachesHighAccuracy(string specText)
    {
        var spec = ModelSpecText.Parse(specText);
        // One draw split 400/200, so train and test share the blob centres.
        var (x, y) = SyntheticBlobs.Make(600, 2, 3, seed: 42);
        var (trainX, trainY) = (x[..(400 * 2)], y[..400]);
        var (testX, testY) = (x[(400 * 2)..], y[400..]);
        var start = ModelWeights.Initialize(spec, 1);

        using var trainer = TrainStepModel.Build(spec);
        var result = trainer.Train(start.Values, trainX, trainY, new LocalTrainingPlan(Epochs: 20, BatchSize: 16, LearningRate: 0.1f, Seed: 7));
        using var model = InferenceModel.Load(ClassifierGraphs.BuildInference(new ModelWeights(spec, result.Weights)).ToByteArray());
        var before = InferenceModelTests.Load(start).Evaluate(testX, testY);
        var after = model.Evaluate(testX, testY);

        Assert.True(after.Accuracy >= 0.97, $"accuracy {after.Accuracy:P1}");
        Assert.True(after.Loss < before.Loss / 4, $"loss {before.Loss:F3} -> {after.Loss:F3}");
        Assert.True(result.Loss < result.InitialLoss);
        Assert.Equal(20 * 25, result.Steps);
    }

    [Fact]
    public void Train_SameSeed_IsDeterministic()
    {
        var spec = ModelSpecText.Parse("mlp-2-8-3");
        var (x, y) = SyntheticBlobs.Make(50, 2, 3, seed: 1);
        using var trainer = TrainStepModel.Build(spec);
        var start = ModelWeights.Initialize(spec, 3).Values;
        var a = trainer.Train(start, x, y, new LocalTrainingPlan(2, 8, 0.05f, 9));
        var b = trainer.Train(start, x, y, new LocalTrainingPlan(2, 8, 0.05f, 9));
        var c = trainer.Train(start, x, y, new LocalTrainingPlan(2, 8, 0.05f, 10));
        Assert.Equal(a.Weights, b.Weights);
        Assert.NotEqual(a.Weights, c.Weights);
    }

    [Fact]
    public void Train_WrongFeatureCount_Throws()
    {
        var spec = ModelSpecText.Parse("logreg-3-2");
        using var trainer = TrainStepModel.Build(spec);
        var start = ModelWeights.Initialize(spec, 3).Values;
        Assert.Throws<ArgumentException>(() => trainer.Train(start, new float[5], new long[2], new LocalTrainingPlan(1, 1, 0.1f, 0)));
    }
}
