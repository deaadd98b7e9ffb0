using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A tiny transformer text classifier exported by PyTorch (<c>export_pytorch_transformer.py</c>): token ids with a
/// padding mask as a context input, token and position embeddings, masked single-head self-attention, a GELU
/// feed-forward block, three LayerNorms and the first token's vector picked by Gather on axis 1. Served on its ids and
/// mask as PyTorch computed, and every one of its 22 tensors trains along PyTorch's autograd gradient.
/// </summary>
public class TinyTransformerTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    [Fact]
    public void ATransformerWithAPaddingMask_IsServedAsPyTorchComputed_AndEveryTensorFollowsPyTorchsGradient()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_transformer_cls.onnx"));
        var uploaded = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Input = "tokens" });
        var graph = uploaded.Spec.Graph!;
        Assert.True(graph.IntegerFeatures);
        Assert.True(graph.ScoresAreLogits);
        Assert.Equal("mask:float[12]", Assert.Single(graph.ContextInputs).CanonicalText);
        Assert.Equal((24, 3), (uploaded.Spec.InputDim, uploaded.Spec.Classes));
        Assert.Equal(22, graph.Trained.Count);
        Assert.Contains("position", graph.Trained.Select(t => t.Name));
        Assert.Equal(uploaded.Spec, ModelArchitectures.ToSpec(ModelArchitectures.From(uploaded.Spec, [])));

        using var json = JsonDocument.Parse(File.ReadAllText(Fixture("pytorch_transformer_expected.json")));
        var expected = json.RootElement;
        var tokens = expected.GetProperty("tokens").EnumerateArray().Select(e => (float)e.GetInt64()).ToArray();
        var mask = expected.GetProperty("mask").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        var rows = Enumerable.Range(0, 6).SelectMany(r => tokens.AsSpan(r * 12, 12).ToArray().Concat(mask.AsSpan(r * 12, 12).ToArray())).ToArray();
        var labels = expected.GetProperty("labels").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var probabilities = expected.GetProperty("probabilities").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        using var model = InferenceModel.Load(bytes, uploaded.Spec);
        var prediction = model.Predict(rows, labels.Length);
        for (var i = 0; i < probabilities.Length; i++) Assert.Equal(probabilities[i], prediction.Probabilities[i], 5);

        // The padding matters: unmasking the third row's padding changes its answer.
        var unmasked = rows.ToArray();
        unmasked.AsSpan((2 * 24) + 12, 12).Fill(1f);
        Assert.NotEqual(prediction.Probabilities[6], model.Predict(unmasked, 6).Probabilities[6]);

        UploadedClassifierTests.OneSgdStepFollowsPyTorch(uploaded, rows, labels, expected);
    }

    /// <summary>
    /// The same blocks trained by PyTorch on scikit-learn's digits read as 64 pixel tokens (mean-pooled), digits 0–4
    /// only (<c>train_transformer_digits.py</c>); all 22 tensors fine-tuned by FedAvg over 10 shards holding all ten
    /// digits, with Adam on the devices: held-out accuracy on 0–9 rises from what the upload knows.
    /// </summary>
    [Fact]
    public void ATransformer_FineTunedByFedAvgWithAdamOnAllTenDigits_LearnsDigitsTheUploadNeverSaw()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_transformer_digits04.onnx"));
        var uploaded = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Input = "tokens", Optimizer = EdgeMlOps.Shared.Onnx.Training.DeviceOptimizer.Adam });
        Assert.Equal(22, uploaded.Spec.Graph!.Trained.Count);
        var curve = DigitShardsFedAvg.Curve(uploaded, scan => scan.Select(t => (float)t).Concat(Enumerable.Repeat(1f, 64)), learningRate: 0.01f); // tokens, then the mask
        output.WriteLine(DigitShardsFedAvg.Describe(curve));
        Assert.Equal(0.4584, curve[0], 3); // what PyTorch printed for the file
        Assert.True(curve[^1] > curve[0] + 0.1, $"held-out accuracy {curve[0]:F3} → {curve[^1]:F3}");
    }
}
