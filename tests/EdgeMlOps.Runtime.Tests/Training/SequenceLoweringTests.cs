using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Proto;
using EdgeMlOps.Shared.Onnx.Training;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// Sequences written out as the tensors they hold in the train step (<c>SequenceLowering</c>): the step computes what
/// the model with its sequence ops computes, follows finite differences, and keeps no sequence op; PyTorch's scripted
/// list-and-stack model trains as PyTorch's gradient.
/// </summary>
public class SequenceLoweringTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly Dictionary<string, Func<TestGraph, (string Y, long[] Dims)>> Cases = new()
    {
        // torch.stack of a list built one append at a time, one of them inserted at the front.
        ["SequenceEmpty, SequenceInsert (one at position 0), ConcatFromSequence new_axis"] = g =>
        {
            var (a, b, c) = (g.Node("Tanh", [g.Param("a", [2, 3])]), g.Param("b", [2, 3]), g.Param("c", [2, 3]));
            var list = g.Node("SequenceInsert", [g.Node("SequenceInsert", [g.Node("SequenceEmpty", [], Int("dtype", (long)DataType.Float)), a]), b]);
            return (g.Node("ConcatFromSequence", [g.Node("SequenceInsert", [list, c, g.Ints(0)])], Int("axis", -1), Int("new_axis", 1)), [2, 3, 3]);
        },
        // x.split(2, dim=1): chunks of 2 and a last of 1, one erased, the others concatenated back.
        ["SplitToSequence by chunks, SequenceErase, ConcatFromSequence along an axis"] = g =>
        {
            var chunks = g.Node("SplitToSequence", [g.Node("Mul", [g.Input("x", [2, 5, 3]), g.Param("k", [5, 3])]), g.Node("Constant", [], Tensor("value", new TensorProto { DataType = (int)DataType.Int64, Int64Data = { 2 } }))], Int("axis", 1));
            return (g.Node("ConcatFromSequence", [g.Node("SequenceErase", [chunks, g.Ints(1)])], Int("axis", 1)), [2, 3, 3]);
        },
        // for row in x.unbind(1), read by index; SequenceLength of it, as a loop's bound would read it.
        ["SplitToSequence into ones without keepdims, SequenceAt, SequenceLength"] = g =>
        {
            var rows = g.Node("SplitToSequence", [g.Node("Mul", [g.Input("x", [2, 4, 3]), g.Param("k", [4, 3])])], Int("axis", 1), Int("keepdims", 0));
            var length = g.Node("Cast", [g.Node("SequenceLength", [rows])], Int("to", (long)DataType.Float));
            return (g.Node("Mul", [g.Node("Add", [g.Node("SequenceAt", [rows, g.Ints(-1)]), g.Node("SequenceAt", [rows, g.Ints(1)])]), length]), [2, 3]);
        },
        // outs[i] with i the data's: the position of the largest input (as the state at a sequence's last valid step is read).
        ["SequenceConstruct, SequenceAt at a position the data decides"] = g =>
        {
            var list = g.Node("SequenceConstruct", [g.Node("Tanh", [g.Param("a", [3, 2])]), g.Node("Sigmoid", [g.Param("b", [3, 2])]), g.Param("c", [3, 2])]);
            return (g.Node("SequenceAt", [list, g.Node("ArgMax", [g.Input("x", [3])], Int("keepdims", 0))]), [3, 2]);
        },
        // A list written and erased at positions only the run knows (the largest input's and the smallest's), read back whole.
        ["SequenceInsert and SequenceErase at positions the data decides, ConcatFromSequence new_axis"] = g =>
        {
            var x = g.Input("x", [3]);
            var list = g.Node("SequenceConstruct", [g.Node("Tanh", [g.Param("a", [3, 2])]), g.Param("b", [3, 2]), g.Node("Sigmoid", [g.Param("c", [3, 2])])]);
            var inserted = g.Node("SequenceInsert", [list, g.Param("d", [3, 2]), g.Node("ArgMax", [x], Int("keepdims", 0))]);
            var erased = g.Node("SequenceErase", [inserted, g.Node("ArgMin", [x], Int("keepdims", 0))]);
            return (g.Node("ConcatFromSequence", [erased], Int("axis", 1), Int("new_axis", 1)), [3, 3, 2]);
        },
        // Counted from the end: an insertion at −(argmax + 1) and a read at −1 and at −(argmin + 1), the length too.
        ["SequenceInsert, SequenceAt at negative positions the data decides, SequenceLength"] = g =>
        {
            var x = g.Input("x", [3]);
            Func<string, string> fromEnd = op => g.Node("Sub", [g.Node("Neg", [g.Node(op, [x], Int("keepdims", 0))]), g.Node("Squeeze", [g.Ints(1), g.Ints(0)])]);
            var list = g.Node("SequenceInsert", [g.Node("SequenceConstruct", [g.Param("a", [2, 3]), g.Node("Tanh", [g.Param("b", [2, 3])])]), g.Param("c", [2, 3]), fromEnd("ArgMax")]);
            var length = g.Node("Cast", [g.Node("SequenceLength", [list])], Int("to", (long)DataType.Float));
            return (g.Node("Mul", [g.Node("Add", [g.Node("SequenceAt", [list, g.Ints(-1)]), g.Node("SequenceAt", [list, fromEnd("ArgMin")])]), length]), [2, 3]);
        },
        ["SequenceConstruct, SequenceAt"] = g => (g.Node("SequenceAt", [g.Node("SequenceConstruct", [g.Param("a", [3, 2]), g.Node("Sigmoid", [g.Param("b", [3, 2])])]), g.Ints(1)]), [3, 2]),
    };

    public static TheoryData<string> Names => [.. Cases.Keys];

    [Theory]
    [MemberData(nameof(Names))]
    public void TheLoweredStep_ComputesWhatTheModelComputes_AndFollowsFiniteDifferences(string name)
    {
        var g = new TestGraph(DataType.Float, 17);
        var (y, dims) = Cases[name](g);
        var model = g.Model(y, dims.Length);
        var count = (int)dims.Aggregate(1L, (a, b) => a * b);
        var labels = Enumerable.Range(0, count).Select(i => Math.Sin(i)).ToArray();
        var feeds = new Dictionary<string, Feed>(g.Feeds) { ["labels"] = new Feed(dims, labels) };

        var served = TestGraph.Run(model, g.Feeds); // ONNX Runtime on the model with its sequence ops
        var mse = served.Select((v, i) => (v - labels[i]) * (v - labels[i])).Sum() / count;
        using var probe = new GradientProbe(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError));
        Assert.Equal(mse, probe.Gradient(feeds).Loss, 5);
        Assert.DoesNotContain(probe.Step.Model.Graph.Node, n => n.OpType.Contains("Sequence", StringComparison.Ordinal));
        var error = probe.RelativeError(feeds, 1e-2);
        Assert.True(error < 2e-3, $"{name}: relative gradient error {error:E2}");
    }

    /// <summary>
    /// PyTorch's scripted cell reading its list of states at the batch's brightest row (<c>export_scripted_brightest.py</c>:
    /// <c>outs[int(rows.sum(2).mean(0).argmax())]</c>, a SequenceAt at a position only the run knows): served as exported,
    /// and one step on a batch brightest near the top (row 1) and one brightest at the bottom (row 7) each follow
    /// PyTorch's gradient, with no sequence op left in the step.
    /// </summary>
    [Fact]
    public void APyTorchListReadAtAPositionTheDataDecides_TrainsAsPyTorchsGradient()
    {
        static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);
        var bytes = File.ReadAllBytes(Fixture("pytorch_scripted_brightest.onnx"));
        var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture("scripted_brightest_expected.json"))).RootElement;
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all"));
        Assert.Contains(ModelProto.Parser.ParseFrom(bytes).Graph.Node, n => n.OpType == "SequenceAt"); // served with its list
        Assert.DoesNotContain(ModelProto.Parser.ParseFrom(model.TrainStep!).Graph.Node, n => n.OpType.Contains("Sequence", StringComparison.Ordinal));
        using var served = InferenceModel.Load(bytes, model.Spec);
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        Assert.Equal((1, 7), (expected.GetProperty("top").GetProperty("brightest").GetInt32(), expected.GetProperty("bottom").GetProperty("brightest").GetInt32()));
        foreach (var batch in new[] { "top", "bottom" }) PyTorchBatch.AssertServedAndStepped(model, served, trainer, expected.GetProperty(batch), batch);
    }

    /// <summary>
    /// PyTorch's scripted cell inserting each step's state into its list at a position the data decides
    /// (<c>export_scripted_insert.py</c>: <c>outs.insert(int(10 × the row's mean) % (len(outs) + 1), h)</c>, stacked in
    /// the order [0, 1, 7, 3, 6, 5, 4, 2] on the checked batch): served as exported, and one step follows PyTorch's
    /// gradient — each state's gradient from the slot the run put it in — with no sequence op left.
    /// </summary>
    [Fact]
    public void APyTorchListInsertedIntoAtPositionsTheDataDecides_TrainsAsPyTorchsGradient()
    {
        static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);
        var bytes = File.ReadAllBytes(Fixture("pytorch_scripted_insert.onnx"));
        var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture("scripted_insert_expected.json"))).RootElement;
        Assert.Equal([0, 1, 7, 3, 6, 5, 4, 2], expected.GetProperty("order").EnumerateArray().Select(o => o.GetInt32()));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all"));
        Assert.Contains(ModelProto.Parser.ParseFrom(bytes).Graph.Node, n => n.OpType == "SequenceInsert" && n.Input.Count == 3); // served with its run-time positions
        Assert.DoesNotContain(ModelProto.Parser.ParseFrom(model.TrainStep!).Graph.Node, n => n.OpType.Contains("Sequence", StringComparison.Ordinal));
        using var served = InferenceModel.Load(bytes, model.Spec);
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        PyTorchBatch.AssertServedAndStepped(model, served, trainer, expected, "the states inserted where the data says");
    }

    /// <summary>
    /// A position only the run knows that is out of range fails the step, as it fails the model in ONNX Runtime, rather
    /// than train on a slot the model never reads: a read at 3 or −4 of 3 entries, an insertion at 4, an erasure at −4;
    /// the same step runs at the ends of each range (read at 2 and −3, insert at 3 and −3, erase at −3).
    /// </summary>
    [Theory]
    [InlineData("SequenceAt", 2L, true)]
    [InlineData("SequenceAt", -3L, true)]
    [InlineData("SequenceAt", 3L, false)]
    [InlineData("SequenceAt", -4L, false)]
    [InlineData("SequenceInsert", 3L, true)]
    [InlineData("SequenceInsert", -3L, true)]
    [InlineData("SequenceInsert", 4L, false)]
    [InlineData("SequenceErase", -3L, true)]
    [InlineData("SequenceErase", -4L, false)]
    public void APositionOutOfRange_FailsTheStep_AsItFailsTheModel(string op, long position, bool inRange)
    {
        var g = new TestGraph(DataType.Float, 17);
        var at = g.IntInput("at", [], [position]);
        var list = g.Node("SequenceConstruct", [g.Node("Tanh", [g.Param("a", [2, 3])]), g.Param("b", [2, 3]), g.Param("c", [2, 3])]);
        var y = op switch
        {
            "SequenceAt" => g.Node("SequenceAt", [list, at]),
            "SequenceInsert" => g.Node("ReduceSum", [g.Node("ConcatFromSequence", [g.Node("SequenceInsert", [list, g.Param("d", [2, 3]), at])], Int("axis", 0), Int("new_axis", 1)), g.Ints(0)], Int("keepdims", 0)),
            _ => g.Node("ReduceSum", [g.Node("ConcatFromSequence", [g.Node("SequenceErase", [list, at])], Int("axis", 0), Int("new_axis", 1)), g.Ints(0)], Int("keepdims", 0)),
        };
        var model = g.Model(y, 2);
        var feeds = new Dictionary<string, Feed>(g.Feeds) { ["labels"] = new Feed([2, 3], [.. Enumerable.Range(0, 6).Select(i => Math.Sin(i))]) };
        using var probe = new GradientProbe(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError));
        if (inRange)
        {
            var served = TestGraph.Run(model, g.Feeds);
            Assert.Equal(served.Select((v, i) => (v - Math.Sin(i)) * (v - Math.Sin(i))).Sum() / 6, probe.Gradient(feeds).Loss, 5);
            return;
        }

        Assert.Throws<Microsoft.ML.OnnxRuntime.OnnxRuntimeException>(() => TestGraph.Run(model, g.Feeds));
        Assert.Throws<Microsoft.ML.OnnxRuntime.OnnxRuntimeException>(() => probe.Gradient(feeds));
    }

    /// <summary>Tensors of different shapes read at a position only the run knows do not stack: refused naming the op.</summary>
    [Fact]
    public void TensorsOfDifferentShapesReadAtAPositionKnownOnlyAtRunTime_AreRefusedNamingTheOp()
    {
        var g = new TestGraph(DataType.Float, 17);
        var at = g.Node("Cast", [g.Node("ArgMax", [g.Input("x", [2])], Int("keepdims", 0))], Int("to", (long)DataType.Int64));
        var model = g.Model(g.Node("ReduceSum", [g.Node("SequenceAt", [g.Node("SequenceConstruct", [g.Param("a", [3]), g.Param("b", [4])]), at]), g.Ints(0)], Int("keepdims", 1)), 1);
        var refused = Assert.Throws<NotDifferentiableException>(() => TrainStepGenerator.Generate(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError)));
        Assert.Contains("(SequenceAt): the tensors this list holds are not known (tensors of different shapes that only the run orders or picks", refused.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The same scripted cell stopping at the first faint row, a <c>break</c> before its append
    /// (<c>pytorch_scripted_stack_break.onnx</c>): how many states the list holds only the run knows. Unrolled, each
    /// appended state carries whether the run made it, and the stack Gathers those: a batch faint at row 2 (2 states
    /// appended), one faint at row 5 (5) and one never faint (8) each step as PyTorch's gradient, no sequence op left.
    /// </summary>
    [Fact]
    public void APyTorchListAppendedInALoopThatStopsEarly_TrainsAsPyTorchsGradient_WhereverTheBreakFalls()
    {
        static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);
        var bytes = File.ReadAllBytes(Fixture("pytorch_scripted_stack_break.onnx"));
        var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture("scripted_stack_break_expected.json"))).RootElement;
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all"));
        Assert.Contains(ModelProto.Parser.ParseFrom(bytes).Graph.Node, n => n.OpType == "ConcatFromSequence"); // served with its list
        Assert.DoesNotContain(ModelProto.Parser.ParseFrom(model.TrainStep!).Graph.Node, n => n.OpType.Contains("Sequence", StringComparison.Ordinal) || n.OpType == "Loop");
        using var served = InferenceModel.Load(bytes, model.Spec);
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        foreach (var (batch, appended) in new[] { ("faint_row_2", 2), ("faint_row_5", 5), ("no_faint_row", 8) })
        {
            Assert.Equal(appended, expected.GetProperty(batch).GetProperty("appended").GetInt32());
            PyTorchBatch.AssertServedAndStepped(model, served, trainer, expected.GetProperty(batch), batch);
        }
    }

    /// <summary>
    /// PyTorch's scripted model walking <c>rows.unbind(1)</c> and stacking what each step makes
    /// (<c>export_scripted_stack.py</c>: SplitToSequence, a Loop over its SequenceLength with SequenceAt and
    /// SequenceInsert in its body, ConcatFromSequence): served as exported, and one step — the loop unrolled, the lists
    /// their tensors — follows PyTorch's gradient, no sequence op or Loop left in it.
    /// </summary>
    [Fact]
    public void APyTorchListStackedInALoop_TrainsAsPyTorchsGradient()
    {
        static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);
        var bytes = File.ReadAllBytes(Fixture("pytorch_scripted_stack.onnx"));
        var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture("scripted_stack_expected.json"))).RootElement;
        Assert.Contains(ModelProto.Parser.ParseFrom(bytes).Graph.Node, n => n.OpType == "ConcatFromSequence");
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all"));
        var step = ModelProto.Parser.ParseFrom(model.TrainStep!);
        Assert.DoesNotContain(step.Graph.Node, n => n.OpType.Contains("Sequence", StringComparison.Ordinal) || n.OpType == "Loop");
        using var served = InferenceModel.Load(bytes, model.Spec);
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        var stepped = PyTorchBatch.AssertServedAndStepped(model, served, trainer, expected);
        output.WriteLine($"one step on six scans: worst relative gradient error {PyTorchGradients.WorstRelativeError(model.InitialWeights(), stepped, PyTorchBatch.Lr, expected):G3} (PyTorch's loss {expected.GetProperty("loss").GetDouble():F5})");
    }
}
