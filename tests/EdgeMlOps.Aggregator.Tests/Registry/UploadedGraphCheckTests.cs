using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Google.Protobuf;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Aggregator.Tests.Registry;

public sealed class UploadedGraphCheckTests
{
    private static readonly ModelSpec Spec = ModelSpecText.Parse("mlp-4-3-2");

    [Fact]
    public void TheGraphEdgeMlOpsBuilds_IsAdmittedWithItsWeights()
    {
        var weights = ModelWeights.Initialize(Spec, 3);
        var admitted = UploadedGraphCheck.Admit(ClassifierGraphs.BuildInference(weights).ToByteArray());
        Assert.Equal(weights.Values, admitted.Values);
    }

    [Fact]
    public void AGraphWithTheExpectedNamesButAnotherFunction_IsRefusedAndTheOperatorNamed()
    {
        // The layout the registry reads (names, shapes, metadata) around a LayerNorm it would silently drop.
        var bytes = WithLayerNorm(ModelWeights.Initialize(Spec, 3)).ToByteArray();
        var refused = Assert.Throws<UploadRefusedException>(() => UploadedGraphCheck.Admit(bytes));
        Assert.Contains("LayerNormalization ×1", refused.Message);
        Assert.Contains("mlp-4-3-2", refused.Message);
    }

    [Fact]
    public void APyTorchExportOfTheSameFunction_IsAdmitted_AndServesWhatPyTorchComputes()
    {
        var weights = UploadedGraphCheck.Admit(Fixture("pytorch_mlp.onnx"));
        using var expected = System.Text.Json.JsonDocument.Parse(Fixture("pytorch_expected.json"));
        var features = expected.RootElement.GetProperty("features").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var torch = expected.RootElement.GetProperty("probabilities").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        using var served = Runtime.InferenceModel.Load(ClassifierGraphs.BuildInference(weights).ToByteArray());
        var probabilities = served.Predict(features, features.Length / 4).Probabilities;
        Assert.Equal(torch.Length, probabilities.Length);
        for (var i = 0; i < torch.Length; i++) Assert.InRange(probabilities[i], torch[i] - 1e-5f, torch[i] + 1e-5f);
    }

    [Fact]
    public void APyTorchExportWithLayerNorm_IsRefused_NotServedWithoutIt()
    {
        var refused = Assert.Throws<UploadRefusedException>(() => UploadedGraphCheck.Admit(Fixture("pytorch_mlp_layernorm.onnx")));
        Assert.Contains("(operators a dense classifier does not have: LayerNormalization ×1)", refused.Message);
    }

    [Fact]
    public void AGraphWithoutTheClassifierOutputs_IsRefusedWithTheReason()
    {
        var weights = ModelWeights.Initialize(Spec, 3);
        var g = new OnnxGraphBuilder("inference");
        var x = g.Input(ClassifierGraphs.FeaturesInput, DataType.Float, "batch", 4);
        var w = g.Initializer(ParameterLayout.WeightName(0), weights.Values.AsSpan(0, 12), 4, 3);
        var b = g.Initializer(ParameterLayout.BiasName(0), weights.Values.AsSpan(12, 3), 3);
        g.Initializer(ParameterLayout.WeightName(1), weights.Values.AsSpan(15, 6), 3, 2);
        g.Initializer(ParameterLayout.BiasName(1), weights.Values.AsSpan(21, 2), 2);
        g.Node("Gemm", [x, w, b], "scores");
        g.Output("scores", DataType.Float, "batch", 3);
        var bytes = g.Build("no probabilities", new Dictionary<string, string> { [ClassifierGraphs.SpecMetadataKey] = Spec.ToString() }).ToByteArray();
        var refused = Assert.Throws<UploadRefusedException>(() => UploadedGraphCheck.Admit(bytes));
        Assert.Contains("does not run as a classifier", refused.Message);
    }

    [Fact]
    public void AMalformedGraph_IsRefusedWithONNXsStructuralRuleNamed()
    {
        var model = ClassifierGraphs.BuildInference(ModelWeights.Initialize(Spec, 3));
        model.Graph.Node[1].Input[0] = "ghost";
        var refused = Assert.Throws<UploadRefusedException>(() => UploadedGraphCheck.Admit(model.ToByteArray()));
        Assert.Contains("not a well-formed ONNX model", refused.Message);
        Assert.Contains("reads 'ghost', which no input, initializer or earlier node produces", refused.Message);
    }

    [Fact]
    public void APyTorchCnnUploadedAsItIs_IsRefused_SayingWhatItIsAndWhatTheFleetTakesToday()
    {
        var refused = Assert.Throws<UploadRefusedException>(() => UploadedGraphCheck.Admit(File.ReadAllBytes(
            Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_cnn_digits04.onnx"))));
        Assert.Contains("features float [batch, 1, 28, 28]", refused.Message);
        Assert.Contains("Conv ×2", refused.Message);
        Assert.Contains("edgemlops models check", refused.Message);
        Assert.Contains("docs/MODELS.md", refused.Message);
    }

    [Fact]
    public void NotAnOnnxFile_IsRefusedWithTheFormatNamed()
    {
        var refused = Assert.Throws<UploadRefusedException>(() => UploadedGraphCheck.Admit("not a model"u8.ToArray()));
        Assert.Contains("docs/MODELS.md", refused.Message);
    }

    private static byte[] Fixture(string name) => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", name));

    /// <summary>The dense classifier with a LayerNormalization after the first layer.</summary>
    internal static Shared.Onnx.Proto.ModelProto WithLayerNorm(ModelWeights weights)
    {
        var g = new OnnxGraphBuilder("inference");
        var x = g.Input(ClassifierGraphs.FeaturesInput, DataType.Float, "batch", 4);
        var w0 = g.Initializer(ParameterLayout.WeightName(0), weights.Values.AsSpan(0, 12), 4, 3);
        var b0 = g.Initializer(ParameterLayout.BiasName(0), weights.Values.AsSpan(12, 3), 3);
        var w1 = g.Initializer(ParameterLayout.WeightName(1), weights.Values.AsSpan(15, 6), 3, 2);
        var b1 = g.Initializer(ParameterLayout.BiasName(1), weights.Values.AsSpan(21, 2), 2);
        var scale = g.Initializer("ln.scale", [2f, 2f, 2f], 3);
        var shift = g.Initializer("ln.bias", [0.5f, -0.5f, 0f], 3);
        var h = g.Node("Relu", [g.Node("LayerNormalization", [g.Node("Gemm", [x, w0, b0]), scale, shift], null, Int("axis", -1))]);
        var logits = g.Node("Gemm", [h, w1, b1]);
        g.Node("Softmax", [logits], ClassifierGraphs.ProbabilitiesOutput, Int("axis", 1));
        g.Node("ArgMax", [logits], ClassifierGraphs.LabelOutput, Int("axis", 1), Int("keepdims", 0));
        g.Output(ClassifierGraphs.ProbabilitiesOutput, DataType.Float, "batch", 2);
        g.Output(ClassifierGraphs.LabelOutput, DataType.Int64, "batch");
        return g.Build("LayerNorm classifier", new Dictionary<string, string> { [ClassifierGraphs.SpecMetadataKey] = Spec.ToString() });
    }
}
