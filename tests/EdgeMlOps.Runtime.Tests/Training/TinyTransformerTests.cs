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
public class TinyTransformerTests
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
}
