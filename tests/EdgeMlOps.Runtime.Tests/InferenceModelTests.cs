using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Google.Protobuf;

namespace EdgeMlOps.Runtime.Tests;

public class InferenceModelTests
{
    internal static InferenceModel Load(ModelWeights weights) =>
        InferenceModel.Load(ClassifierGraphs.BuildInference(weights).ToByteArray());

    [Fact]
    public void Predict_ProbabilitiesSumToOne_AndLabelIsArgMax()
    {
        var spec = ModelSpecText.Parse("mlp-4-6-3");
        using var model = Load(ModelWeights.Initialize(spec, 2));
        var (x, _) = SyntheticBlobs.Make(10, 4, 3, seed: 4);
        var batch = model.Predict(x, 10);
        for (var i = 0; i < 10; i++)
        {
            var row = batch.Probabilities.AsSpan(i * 3, 3).ToArray();
            Assert.Equal(1.0, row.Sum(), 5);
            Assert.Equal(Array.IndexOf(row, row.Max()), batch.Labels[i]);
        }
    }

    [Fact]
    public void Predict_MatchesReferenceForwardPass()
    {
        var spec = ModelSpecText.Parse("mlp-3-4-2");
        var weights = ModelWeights.Initialize(spec, 8);
        using var model = Load(weights);
        var x = new float[] { 0.5f, -1f, 2f };
        var p = model.Predict(x, 1).Probabilities;
        // Cross-entropy against label 1 equals -log p1.
        var loss = ReferenceMlp.Loss(spec, weights.Values.Select(v => (double)v).ToArray(), x, [1]);
        Assert.Equal(loss, -Math.Log(p[1]), 4);
    }

    [Fact]
    public void Load_RoundTripsWeights_AndRejectsGarbage()
    {
        var spec = ModelSpecText.Parse("mlp-5-3-2");
        var weights = ModelWeights.Initialize(spec, 1);
        using var model = Load(weights);
        Assert.Equal(weights.Values, model.Weights.Values);
        Assert.Equal(spec, model.Spec);
        Assert.ThrowsAny<Exception>(() => InferenceModel.Load([1, 2, 3, 4, 5]));
    }

    [Fact]
    public void Predict_WrongFeatureCount_Throws()
    {
        using var model = Load(ModelWeights.Initialize(ModelSpecText.Parse("logreg-3-2"), 1));
        Assert.Throws<ArgumentException>(() => model.Predict(new float[4], 1));
    }
}
