using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Proto;
using EdgeMlOps.Shared.Onnx.Training;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A train step through an RNN, GRU or LSTM node runs the node unrolled into its time steps; these check that the
/// unrolled steps compute what ONNX Runtime's own recurrent kernels compute (the gradients are checked against finite
/// differences in <see cref="OpGradientTests"/>), and that what cannot be unrolled is refused naming the node.
/// </summary>
public class RecurrentUnrollingTests
{
    public static TheoryData<string> Names => [.. RecurrentCases.All.Keys];

    [Theory]
    [MemberData(nameof(Names))]
    public void UnrolledSteps_ComputeWhatOnnxRuntimesKernelComputes(string name)
    {
        var g = new TestGraph(DataType.Float);
        var (output, dims) = RecurrentCases.All[name](g);
        var model = g.Model(output, dims.Length);
        var expected = TestGraph.Run(model, g.Feeds);
        Assert.Equal(dims.Aggregate(1L, (a, b) => a * b), expected.Length);

        using var probe = new GradientProbe(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError));
        Assert.DoesNotContain(probe.Step.Model.Graph.Node, n => n.OpType is "RNN" or "GRU" or "LSTM");
        var asLabels = new Dictionary<string, Feed>(g.Feeds) { ["labels"] = new Feed(dims, [.. expected.Select(v => (double)v)]) };
        var zeros = new Dictionary<string, Feed>(g.Feeds) { ["labels"] = new Feed(dims, new double[expected.Length]) };

        // Labels equal to the kernel's output: the unrolled forward pass leaves a squared error at float rounding only.
        Assert.True(probe.Loss(probe.Parameters, asLabels) < 1e-11, $"{name}: unrolled output differs from ONNX Runtime's");
        Assert.True(probe.Loss(probe.Parameters, zeros) > 1e-3, $"{name}: the probe should see a non-trivial output");
    }

    [Fact]
    public void ARecurrentNodeNoParameterReaches_StaysOneNode_AndOnlyTheHeadTrains()
    {
        var g = new TestGraph(DataType.Float);
        var states = g.Nodes("GRU", [g.Input("x", [4, 2, 3]), g.Param("w", [1, 15, 3]), g.Param("r", [1, 15, 5])], 2, OnnxGraphBuilder.Int("hidden_size", 5));
        var last = g.Node("Squeeze", [states[1], g.Ints(0)]);
        var model = g.Model(g.Node("MatMul", [last, g.Param("head", [5, 2])]), 2);

        var step = TrainStepGenerator.Generate(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError) { Trainable = ["head"] });

        Assert.Equal(["head"], step.Trained);
        Assert.Single(step.Model.Graph.Node, n => n.OpType == "GRU");
    }

    [Fact]
    public void ASequenceOfUnknownLength_IsRefusedNamingTheNode()
    {
        var g = new TestGraph(DataType.Float);
        var x = g.Input("x", [4, 2, 3]);
        var model = g.Model(g.Nodes("GRU", [x, g.Param("w", [1, 15, 3]), g.Param("r", [1, 15, 5])], 1, OnnxGraphBuilder.Int("hidden_size", 5))[0], 4);
        model.Graph.Input[0].Type.TensorType.Shape.Dim[0].ClearDimValue();
        model.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam = "frames";

        var refused = Assert.Throws<NotDifferentiableException>(() => TrainStepGenerator.Generate(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError)));

        Assert.Contains("GRU", refused.Message);
        Assert.Contains("sequence length is not known", refused.Message);
    }
}
