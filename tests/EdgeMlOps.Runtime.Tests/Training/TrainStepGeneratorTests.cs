using System.Text.Json;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Proto;
using EdgeMlOps.Shared.Onnx.Training;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Runtime.Tests.Training;

public class TrainStepGeneratorTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    /// <summary>x [4, 3] → Gemm → Tanh (→ <paramref name="before"/>) → Gemm → <paramref name="head"/> → Identity: a small classifier in double.</summary>
    private static (ModelProto Model, Dictionary<string, Feed> Feeds) Classifier(string head, int classes, Func<TestGraph, string, string>? before = null)
    {
        var g = new TestGraph(DataType.Double);
        var x = g.Input("features", [4, 3]);
        var h = g.Node("Tanh", [g.Node("Gemm", [x, g.Param("w0", [3, 5]), g.Param("b0", [5])])]);
        if (before is not null) h = before(g, h);
        var logits = g.Node("Gemm", [h, g.Param("w1", [5, classes]), g.Param("b1", [classes])]);
        var model = g.Model(head == "none" ? logits : g.Node(head, [logits], Int("axis", 1)), 2);
        return (model, g.Feeds);
    }

    [Fact]
    public void SoftmaxCrossEntropy_OnAProbabilitiesOutput_IsTakenOnTheLogits_AndMatchesDifferences()
    {
        var (model, feeds) = Classifier("Softmax", 3);
        feeds["labels"] = new Feed([4], Ints: [0, 2, 1, 2]);
        using var probe = new GradientProbe(model, new TrainStepOptions("y", TrainingLoss.SoftmaxCrossEntropy));
        Assert.Equal(["w0", "b0", "w1", "b1"], probe.Step.Trained);
        Assert.True(probe.RelativeError(feeds, 1e-6) < 1e-6);
        // No Softmax is differentiated: the loss goes through LogSoftmax of the logits.
        Assert.DoesNotContain(probe.Step.Model.Graph.Node, n => n.OpType == "Softmax");
    }

    [Fact]
    public void BinaryCrossEntropy_OnASigmoidOutput_MatchesDifferences()
    {
        var (model, feeds) = Classifier("none", 1);
        var g = model.Graph;
        var identity = g.Node.Last();
        var sigmoid = new NodeProto { OpType = "Sigmoid", Name = "sig", Output = { "p" } };
        sigmoid.Input.Add(identity.Input[0]);
        identity.Input[0] = "p";
        g.Node.Insert(g.Node.Count - 1, sigmoid);
        feeds["labels"] = new Feed([4, 1], [1, 0, 0, 1]);
        using var probe = new GradientProbe(model, new TrainStepOptions("y", TrainingLoss.BinaryCrossEntropy));
        Assert.True(probe.RelativeError(feeds, 1e-6) < 1e-6);
    }

    [Fact]
    public void AHeadOnlyTrainStep_LeavesTheBackboneFrozen_EvenThroughAnOpWithoutAGradientRule()
    {
        // Optional then OptionalGetElement (h wrapped and unwrapped: the identity) have no gradient rule.
        var (model, feeds) = Classifier("Softmax", 3, before: (g, h) => g.Node("OptionalGetElement", [g.Node("Optional", [h])]));
        feeds["labels"] = new Feed([4], Ints: [0, 2, 1, 2]);
        using var probe = new GradientProbe(model, new TrainStepOptions("y", TrainingLoss.SoftmaxCrossEntropy) { Trainable = ["w1", "b1"] });
        Assert.Equal(["w1", "b1"], probe.Step.Trained);
        var graph = probe.Step.Model.Graph;
        Assert.Contains(graph.Initializer, t => t.Name == "w0"); // frozen: still a constant of the graph
        Assert.DoesNotContain(graph.Input, i => i.Name == "w0");
        Assert.DoesNotContain(graph.Output, o => o.Name == ClassifierGraphs.UpdatedName("w0"));
        Assert.True(probe.RelativeError(feeds, 1e-6) < 1e-6);

        // Training everything would need a gradient through the sequence: refused, naming the op and the node.
        var refusal = Assert.Throws<NotDifferentiableException>(() => TrainStepGenerator.Generate(model, new TrainStepOptions("y", TrainingLoss.SoftmaxCrossEntropy)));
        Assert.Contains("(OptionalGetElement)", refusal.Message);
        Assert.Contains("train only parameters after this node", refusal.Message);
    }

    [Fact]
    public void Refusals_SayWhatIsWrong()
    {
        var (model, _) = Classifier("Softmax", 3);
        var ce = new TrainStepOptions("y", TrainingLoss.SoftmaxCrossEntropy);
        Assert.Contains("no output 'probs'", Assert.Throws<NotDifferentiableException>(() => TrainStepGenerator.Generate(model, ce with { Output = "probs" })).Message);
        Assert.Contains("'w9' is not an initializer", Assert.Throws<NotDifferentiableException>(() => TrainStepGenerator.Generate(model, ce with { Trainable = ["w9"] })).Message);
        var ancient = model.Clone();
        ancient.OpsetImport[0].Version = 6;
        Assert.Contains("opset 6; training needs opset 7 or later", Assert.Throws<NotDifferentiableException>(() => TrainStepGenerator.Generate(ancient, ce)).Message);
        var changed = model.Clone();
        changed.OpsetImport[0].Version = 12;
        changed.Graph.Node.Single(n => n.OpType == "Softmax").Attribute.Single().I = 0; // pre-13 Softmax flattening from axis 0
        Assert.Contains("Softmax with axis=0 changed meaning at opset 13", Assert.Throws<NotDifferentiableException>(() => TrainStepGenerator.Generate(changed, ce)).Message);
    }

    [Fact]
    public void AnOpset9Slice_HasItsAttributesBecomeInputs_WhenLifted()
    {
        // Before opset 10 Slice took starts/ends/axes as attributes; lifted as they are, the graph would not load.
        var g = new TestGraph(DataType.Double, opset: 9);
        var slice = g.Node("Slice", [g.Param("a", [3, 6])], Ints("starts", 1, 2), Ints("ends", 3, 5), Ints("axes", 0, 1));
        var model = g.Model(slice, 2);
        var feeds = new Dictionary<string, Feed>(g.Feeds) { ["labels"] = new Feed([2, 3], [1, 2, 3, 4, 5, 6]) };
        using var probe = new GradientProbe(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError));
        Assert.True(probe.RelativeError(feeds, 1e-6) < 1e-6);
    }

    [Fact]
    public void AnOpset9Export_IsLiftedTo13ForTheTrainStep_WithTheSameGradients()
    {
        var (model, feeds) = Classifier("Softmax", 3);
        feeds["labels"] = new Feed([4], Ints: [0, 2, 1, 2]);
        var old = model.Clone();
        old.OpsetImport[0].Version = 9;
        using var probe = new GradientProbe(old, new TrainStepOptions("y", TrainingLoss.SoftmaxCrossEntropy));
        using var current = new GradientProbe(model, new TrainStepOptions("y", TrainingLoss.SoftmaxCrossEntropy));
        Assert.Equal(13, probe.Step.Model.OpsetImport[0].Version);
        Assert.Equal(9, old.OpsetImport[0].Version);
        Assert.True(probe.RelativeError(feeds, 1e-6) < 1e-6);
        Assert.Equal(current.Gradient(feeds).Loss, probe.Gradient(feeds).Loss, 12);
    }

    /// <summary>
    /// Upsampling as older exporters wrote it — Upsample (opsets 7–9, its scales an attribute before 9) and Resize of
    /// opset 10 — is lifted to opset-13 Resize with the coordinates it always used: the lifted train step computes the
    /// loss ONNX Runtime computes from the original node at its own opset, and follows finite differences.
    /// </summary>
    [Theory]
    [InlineData("Upsample", 7, "nearest", 2f, 3f)]
    [InlineData("Upsample", 9, "nearest", 2f, 2f)]
    [InlineData("Upsample", 9, "linear", 2f, 1.5f)]
    [InlineData("Resize", 10, "nearest", 3f, 2f)]
    [InlineData("Resize", 10, "linear", 1.5f, 2f)]
    [InlineData("Resize", 10, "nearest", 0.5f, 0.75f)]
    [InlineData("Resize", 10, "linear", 0.5f, 0.75f)]
    [InlineData("Resize", 11, "linear", 2f, 2f)]
    public void OldUpsampling_IsLiftedWithItsMeaning(string op, int opset, string mode, float scaleH, float scaleW)
    {
        var g = new TestGraph(DataType.Float, opset);
        var scaled = g.Node("Mul", [g.Input("x", [1, 2, 3, 4]), g.Param("k", [1, 2, 1, 1])]);
        var scales = new[] { 1f, 1f, scaleH, scaleW };
        var resized = op == "Upsample" && opset < 9 ? g.Node(op, [scaled], Str("mode", mode), new AttributeProto { Name = "scales", Type = AttributeProto.Types.AttributeType.Floats, Floats = { scales } })
            : opset == 11 ? g.Node(op, [scaled, g.Floats(), g.Floats(scales)], Str("mode", mode))
            : g.Node(op, [scaled, g.Floats(scales)], Str("mode", mode));
        var model = g.Model(resized, 4);
        var expected = TestGraph.Run(model, new Dictionary<string, Feed>(g.Feeds));
        var labels = Enumerable.Range(0, expected.Length).Select(i => Math.Sin(i)).ToArray();
        var feeds = new Dictionary<string, Feed>(g.Feeds) { ["labels"] = new Feed([1, 2, (long)(3 * scaleH), (long)(4 * scaleW)], labels) };

        using var probe = new GradientProbe(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError));
        var loss = expected.Select((y, i) => (y - labels[i]) * (y - labels[i])).Average();
        Assert.Equal(loss, probe.Gradient(feeds).Loss, 5);
        Assert.True(probe.RelativeError(feeds, 1e-2) < 2e-3);
    }

    /// <summary>
    /// A chain of ops that mean the same from opset 7 on, exported at opsets 9, 11 and 12 — reflection padding (pads an
    /// attribute before 11), ConvTranspose, InstanceNormalization, Softplus, PRelu, DepthToSpace, ReduceL2, TopK (k an
    /// attribute before 10), Sin — is lifted for the train step: its loss is the one ONNX Runtime computes from the
    /// original at its own opset, and its gradient follows finite differences.
    /// </summary>
    [Theory]
    [InlineData(9)]
    [InlineData(11)]
    [InlineData(12)]
    public void AnOlderExportOfOpsThatKeptTheirMeaning_IsLifted_WithTheLossOnnxRuntimeComputes(int opset)
    {
        var g = new TestGraph(DataType.Float, opset);
        var h = g.Node("Mul", [g.Input("x", [2, 4, 3, 3]), g.Param("k", [1, 4, 1, 1], 0.3, 1)]);
        h = opset < 11 ? g.Node("Pad", [h], Str("mode", "reflect"), Ints("pads", 0, 0, 1, 1, 0, 0, 1, 1)) : g.Node("Pad", [h, g.Ints(0, 0, 1, 1, 0, 0, 1, 1)], Str("mode", "reflect"));
        h = g.Node("ConvTranspose", [h, g.Param("w", [4, 4, 2, 2]), g.Param("b", [4])], Ints("strides", 2, 2)); // [2, 4, 10, 10]
        h = g.Node("InstanceNormalization", [h, g.Param("s", [4], 0.3, 1), g.Param("t", [4])]);
        h = g.Node("PRelu", [g.Node("Softplus", [h]), g.Param("slope", [4, 1, 1])]);
        h = g.Node("ReduceL2", [g.Node("DepthToSpace", [h], Int("blocksize", 2))], Ints("axes", 2), Int("keepdims", 0)); // [2, 1, 20]
        var top = opset < 10 ? g.Nodes("TopK", [h], 2, Int("k", 3)) : g.Nodes("TopK", [h, g.Ints(3)], 2);
        var model = g.Model(g.Node("Sin", [top[0]]), 3);
        var expected = TestGraph.Run(model, new Dictionary<string, Feed>(g.Feeds));
        var labels = Enumerable.Range(0, expected.Length).Select(i => Math.Cos(i)).ToArray();
        var feeds = new Dictionary<string, Feed>(g.Feeds) { ["labels"] = new Feed([2, 1, 3], labels) };

        using var probe = new GradientProbe(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError));
        Assert.Equal(16, probe.Step.Model.OpsetImport[0].Version); // lifted to 13, then to 16 for the scatter-add of the reflection's gradient
        Assert.Equal(expected.Select((y, i) => (y - labels[i]) * (y - labels[i])).Average(), probe.Gradient(feeds).Loss, 5);
        var error = probe.RelativeError(feeds, 1e-2);
        Assert.True(error < 2e-3, $"relative gradient error {error:E2}");
    }

    public static TheoryData<string, int> PyTorchModels => new() { { "pytorch_cnn_mnist", 6 }, { "pytorch_kws_1d", 10 } };

    /// <summary>
    /// CNNs exported by torch.onnx.export (BatchNorm folded into the first Conv by the exporter, Gemm with transB, GELU
    /// as Erf, LayerNorm as one op): the generated train step's loss and gradients equal PyTorch's autograd on the
    /// same inputs, for every parameter (the folded Conv's against autograd through the same fold).
    /// </summary>
    [Theory]
    [MemberData(nameof(PyTorchModels))]
    public void PyTorchExports_TrainEveryParameter_WithPyTorchsOwnGradients(string name, int tensors)
    {
        var model = ClassifierGraphs.Parse(File.ReadAllBytes(Fixture(name + ".onnx")));
        using var json = JsonDocument.Parse(File.ReadAllText(Fixture("pytorch_expected.json")));
        var expected = json.RootElement.GetProperty(name);
        var shape = expected.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var feeds = new Dictionary<string, Feed>
        {
            ["features"] = new Feed(shape, expected.GetProperty("features").EnumerateArray().Select(e => e.GetDouble()).ToArray()),
            ["labels"] = new Feed([shape[0]], Ints: expected.GetProperty("labels").EnumerateArray().Select(e => e.GetInt64()).ToArray()),
        };

        using var probe = new GradientProbe(model, new TrainStepOptions("probabilities", TrainingLoss.SoftmaxCrossEntropy));
        Assert.Equal(tensors, probe.Step.Trained.Count);
        var (loss, gradients) = probe.Gradient(feeds);
        Assert.Equal(expected.GetProperty("loss").GetDouble(), loss, 5);

        var compared = 0;
        foreach (var reference in expected.GetProperty("gradients").EnumerateObject())
        {
            if (!gradients.TryGetValue(reference.Name, out var ours)) continue;
            var theirs = reference.Value.EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var diff = Math.Sqrt(ours.Zip(theirs, (a, b) => (a - b) * (a - b)).Sum());
            var norm = Math.Sqrt(theirs.Sum(v => v * v));
            Assert.True(diff / norm < 1e-4, $"{reference.Name}: relative error {diff / norm:E2} against PyTorch autograd");
            compared++;
        }

        Assert.Equal(tensors, compared);
    }
}

public class TrainableSelectionTests
{
    private static ModelProto DigitCnn() =>
        ClassifierGraphs.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", "pytorch_cnn_digits04.onnx")));

    [Fact]
    public void LastLayers_CountLayersWithParameters_FromTheOutputBack()
    {
        var model = DigitCnn();
        Assert.Equal(["head.weight", "head.bias"], TrainableSelection.Resolve(model, "last:1"));
        Assert.Equal(["backbone.4.weight", "backbone.4.bias", "head.weight", "head.bias"], TrainableSelection.Resolve(model, "last:2"));
        Assert.Null(TrainableSelection.Resolve(model, "all"));
        Assert.Equal(["head.bias"], TrainableSelection.Resolve(model, " head.bias "));
        Assert.Contains("has 3 with parameters", Assert.Throws<NotDifferentiableException>(() => TrainableSelection.Resolve(model, "last:4")).Message);
        Assert.Contains("expected last:N", Assert.Throws<NotDifferentiableException>(() => TrainableSelection.Resolve(model, "last:x")).Message);
    }

    [Fact]
    public void TheSelection_IsWhatTheGeneratedStepTrains()
    {
        var model = DigitCnn();
        var step = TrainStepGenerator.Generate(model, new TrainStepOptions("probabilities", TrainingLoss.SoftmaxCrossEntropy) { Trainable = TrainableSelection.Resolve(model, "last:2") });
        Assert.Equal(["backbone.4.weight", "backbone.4.bias", "head.weight", "head.bias"], step.Trained);
        // Everything before the second Conv is frozen: its nodes are evaluated forward only.
        Assert.DoesNotContain(step.Model.Graph.Node, n => n.OpType == "ScatterElements"); // no MaxPool backward
    }
}
