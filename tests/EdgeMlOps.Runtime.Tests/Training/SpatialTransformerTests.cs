using System.Text.Json;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Proto;
using EdgeMlOps.Shared.Onnx.Training;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A spatial transformer network as PyTorch's tutorial builds it (<c>export_spatial_transformer.py</c>: a localization
/// net predicts an affine transform, <c>F.grid_sample</c> resamples the scan on its grid, a CNN classifies the result):
/// the localization net's gradient reaches it only through GridSample's grid, so training it follows PyTorch only if
/// that gradient is right.
/// </summary>
public class SpatialTransformerTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>The network's parameters (not its base grid, a buffer).</summary>
    public const string Parameters = "loc_conv.weight,loc_conv.bias,loc_fc.weight,loc_fc.bias,conv.weight,conv.bias,head.weight,head.bias";

    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    [Fact]
    public void PyTorchsSpatialTransformer_IsServedAndTrainedThroughTheGrid_AsPyTorchComputesIt()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_spatial_transformer.onnx"));
        var expected = JsonDocument.Parse(File.ReadAllText(Fixture("spatial_transformer_expected.json"))).RootElement;
        Assert.Contains(ClassifierGraphs.Parse(bytes).Graph.Node, n => n.OpType == "GridSample");
        var locGradient = expected.GetProperty("gradients").GetProperty("loc_fc.weight").EnumerateArray().Max(v => Math.Abs(v.GetDouble()));
        Assert.True(locGradient > 0.1, $"PyTorch's gradient of the localization net is {locGradient}: the test would not see the grid's gradient");

        // PyTorch's parameters by name: "all" would train the base grid too, a buffer PyTorch keeps fixed.
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions(Parameters));
        Assert.Equal(Parameters.Split(',').Order(StringComparer.Ordinal), model.Spec.Graph!.Trained.Select(t => t.Name).Order(StringComparer.Ordinal));
        using var served = InferenceModel.Load(bytes, model.Spec);
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        var stepped = PyTorchBatch.AssertServedAndStepped(model, served, trainer, expected, "six held-out scans");
        output.WriteLine($"one step on six scans: worst relative gradient error {PyTorchGradients.WorstRelativeError(model.InitialWeights(), stepped, PyTorchBatch.Lr, expected):G3} (PyTorch's loss {expected.GetProperty("loss").GetDouble():F5})");
    }

    /// <summary>A mode or a padding ONNX does not define, and cubic volumes (ONNX defines cubic on images only), have no gradient rule: refused naming the node and what it lacks.</summary>
    [Theory]
    [InlineData("area", "zeros", 4, "GridSample mode 'area' has no gradient rule (bilinear, bicubic or nearest do)")]
    [InlineData("linear", "wrap", 4, "GridSample padding_mode 'wrap' has no gradient rule (zeros, border or reflection do)")]
    [InlineData("cubic", "zeros", 5, "GridSample's cubic mode is defined on images (rank 4) only; a volume samples linear or nearest")]
    public void AGridSampleWithoutAGradientRule_IsRefusedNamingWhy(string mode, string padding, int rank, string why)
    {
        var g = new TestGraph(DataType.Float, 20);
        long[] image = rank == 4 ? [1, 2, 4, 4] : [1, 2, 3, 4, 4];
        long[] grid = rank == 4 ? [1, 3, 3, 2] : [1, 2, 3, 3, 3];
        var model = g.Model(g.Node("GridSample", [g.Param("a", image), g.Input("grid", grid)], Str("mode", mode), Str("padding_mode", padding)), rank);
        var refused = Assert.Throws<NotDifferentiableException>(() => TrainStepGenerator.Generate(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError)));
        Assert.Contains("(GridSample)", refused.Message, StringComparison.Ordinal);
        Assert.Contains(why, refused.Message, StringComparison.Ordinal);
    }
}
