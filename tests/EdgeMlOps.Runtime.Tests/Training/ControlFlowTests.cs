using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Proto;
using EdgeMlOps.Shared.Onnx.Training;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// Loop, Scan and If in a trained path, unrolled for the train step (<see cref="ControlFlowInlining"/>): the unrolled
/// forward pass computes what ONNX Runtime computes on the model itself, every parameter — the ones a body reads from
/// the enclosing graph included — follows finite differences, and what cannot be unrolled is refused naming the node.
/// </summary>
public class ControlFlowTests
{
    private const int Steps = 4;

    /// <summary>A graph input read by a body: [2, 4, 3], its step axis fixed, as a scripted model's Shape → Gather trip count needs.</summary>
    private static string Sequence(TestGraph g) => g.Input("x", [2, Steps, 3]);

    /// <summary>A body's value: floats of any shape; an iteration number or a condition, scalars.</summary>
    private static ValueInfoProto Value(string name, DataType type) => new()
    {
        Name = name,
        Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = type == DataType.Float ? null : new TensorShapeProto() } },
    };

    private static NodeProto Op(string op, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = "body_" + output, Input = { inputs }, Output = { output } };
        node.Attribute.AddRange(attributes);
        return node;
    }

    private static GraphProto Body(string name, (string Name, DataType Type)[] inputs, NodeProto[] nodes, params string[] outputs) => new()
    {
        Name = name,
        Input = { inputs.Select(i => Value(i.Name, i.Type)) },
        Node = { nodes },
        Output = { outputs.Select(o => Value(o, o.StartsWith("cond", StringComparison.Ordinal) ? DataType.Bool : DataType.Float)) },
    };

    private static AttributeProto Graph(string name, GraphProto body) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Graph, G = body };

    private static string True(TestGraph g)
    {
        var tensor = new TensorProto { DataType = (int)DataType.Bool };
        tensor.Int32Data.Add(1);
        return g.Node("Constant", [], Tensor("value", tensor));
    }

    /// <summary>
    /// A recurrent cell written as a Loop the way a scripted PyTorch model exports it: the trip count from Shape →
    /// Gather, a constant true condition, the weights read from the enclosing graph, a trained initial state carried,
    /// and each step's state also stacked as a scan output.
    /// </summary>
    private static (string Y, long[] Dims) ScriptedLoop(TestGraph g, long trips = Steps, bool stopsEarly = false, bool stacked = true, string? stopAfter = null)
    {
        var x = trips == Steps ? Sequence(g) : g.Input("x", [2, trips, 3]);
        var (w, u) = (g.Param("w", [3, 5]), g.Param("u", [5, 5]));
        var count = g.Node("Gather", [g.Node("Shape", [x]), g.Ints(1)]);
        var truth = True(g);
        var body = Body("cell", [("i", DataType.Int64), ("cond_in", DataType.Bool), ("h", DataType.Float)],
        [
            Op("Gather", [x, "i"], "x_i", Int("axis", 1)),
            Op("MatMul", ["x_i", w], "a"),
            Op("MatMul", ["h", u], "b"),
            Op("Add", ["a", "b"], "z"),
            Op("Tanh", ["z"], "h_next"),
            stopAfter is not null ? Op("Less", ["i", stopAfter], "cond_out") // the data decides when to stop
                : stopsEarly ? Op("Less", ["i", g.Ints(2)], "cond_out") : Op("Identity", [truth], "cond_out"), // a while loop decides when to stop
            Op("Identity", ["h_next"], "h_seen"),
        ], "cond_out", "h_next", "h_seen");
        var outputs = g.Nodes("Loop", [g.Node("Squeeze", [count]), truth, g.Param("h0", [2, 5])], 2, Graph("body", body));
        return stacked ? (g.Node("Add", [outputs[1], outputs[0]]), [stopsEarly ? 3 : trips, 2, 5]) : (g.Node("Identity", [outputs[0]]), [2, 5]); // every step's state (of the 3 a break leaves), plus the last; or the last alone
    }

    /// <summary>The same cell as a Scan over the steps axis taken backwards, its states stacked on axis 1.</summary>
    private static (string Y, long[] Dims) ReversedScan(TestGraph g)
    {
        var x = Sequence(g);
        var (w, u) = (g.Param("w", [3, 5]), g.Param("u", [5, 5]));
        var body = Body("cell", [("h", DataType.Float), ("x_t", DataType.Float)],
        [
            Op("MatMul", ["x_t", w], "a"),
            Op("MatMul", ["h", u], "b"),
            Op("Add", ["a", "b"], "z"),
            Op("Tanh", ["z"], "h_next"),
            Op("Identity", ["h_next"], "h_seen"),
        ], "h_next", "h_seen");
        var outputs = g.Nodes("Scan", [g.Param("h0", [2, 5]), x], 2, Graph("body", body), Int("num_scan_inputs", 1),
            Ints("scan_input_axes", 1), Ints("scan_input_directions", 1), Ints("scan_output_axes", 1));
        return (g.Node("Mul", [outputs[1], g.Node("Unsqueeze", [outputs[0], g.Ints(1)])]), [2, Steps, 5]);
    }

    /// <summary>An If on the sequence's length (a shape test, as scripted models write them): the taken branch trains, the other's weights do not.</summary>
    private static (string Y, long[] Dims) ShapeTest(TestGraph g)
    {
        var x = Sequence(g);
        var longer = g.Node("Greater", [g.Node("Gather", [g.Node("Shape", [x]), g.Ints(1)]), g.Ints(2)]);
        var flat = g.Node("Reshape", [x, g.Ints(2, 12)]);
        var (taken, other) = (g.Param("w_long", [12, 4]), g.Param("w_short", [12, 4]));
        var then = Body("long", [], [Op("MatMul", [flat, taken], "m"), Op("Tanh", ["m"], "out")], "out");
        var otherwise = Body("short", [], [Op("MatMul", [flat, other], "out")], "out");
        return (g.Node("If", [g.Node("Squeeze", [longer])], Graph("then_branch", then), Graph("else_branch", otherwise)), [2, 4]);
    }

    /// <summary>
    /// An If the data decides (the sign of the batch's sum), each branch with a weight of its own: both run forward in the
    /// step and a Where keeps the taken one's output, so its weight follows finite differences and the other's gets zeros.
    /// </summary>
    private static (string Y, long[] Dims) DataBranch(TestGraph g)
    {
        var x = Sequence(g);
        var positive = g.Node("Greater", [g.Node("ReduceSum", [x], Int("keepdims", 0)), g.Floats(0)]);
        var (up, down) = (g.Param("w_pos", [3, 2]), g.Param("w_neg", [3, 2]));
        var then = Body("pos", [], [Op("MatMul", [x, up], "m"), Op("Tanh", ["m"], "out")], "out");
        var otherwise = Body("neg", [], [Op("MatMul", [x, down], "m"), Op("Neg", ["m"], "out")], "out");
        return (g.Node("If", [g.Node("Squeeze", [positive])], Graph("then_branch", then), Graph("else_branch", otherwise)), [2, Steps, 2]);
    }

    /// <summary>
    /// A list a branch the data decides appends to (<c>if x.sum() > 0: outs.append(b)</c>, then <c>outs.append(c)</c>),
    /// stacked, summed and scaled by its length: the If written as a Where of two lists, the entry only one branch makes
    /// carrying the condition. <paramref name="appends"/> says which way the comparison goes, so either branch is taken.
    /// </summary>
    private static (string Y, long[] Dims) DataListBranch(TestGraph g, bool appends)
    {
        var x = Sequence(g);
        var decided = g.Node(appends ? "Greater" : "Less", [g.Node("ReduceSum", [x], Int("keepdims", 0)), g.Floats(-100)]); // the sum of 24 standard normals is above −100
        var list = g.Node("SequenceConstruct", [g.Node("Tanh", [g.Param("a", [2, 3])])]);
        var then = Body("append", [], [Op("SequenceInsert", [list, g.Param("b", [2, 3])], "out")], "out");
        var otherwise = Body("keep", [], [Op("Identity", [list], "out")], "out");
        foreach (var branch in new[] { then, otherwise }) branch.Output[0].Type = null; // a sequence: its type inferred
        var appended = g.Node("SequenceInsert", [g.Node("If", [g.Node("Squeeze", [decided])], Graph("then_branch", then), Graph("else_branch", otherwise)), g.Param("c", [2, 3])]);
        var stacked = g.Node("ReduceSum", [g.Node("ConcatFromSequence", [appended], Int("axis", 0), Int("new_axis", 1)), g.Ints(0)], Int("keepdims", 0));
        return (g.Node("Mul", [stacked, g.Node("Cast", [g.Node("SequenceLength", [appended])], Int("to", (long)DataType.Float))]), [2, 3]);
    }

    /// <summary>
    /// Control flow nested in a body, as scripted models write <c>for i in …: if i == 0: … else: …</c>: a Loop whose body
    /// holds an If on the iteration number, reading the body's values and the graph's weights — the first step without
    /// the recurrent term, the others with it.
    /// </summary>
    private static (string Y, long[] Dims) NestedBranch(TestGraph g)
    {
        var x = Sequence(g);
        var (w, u) = (g.Param("w", [3, 5]), g.Param("u", [5, 5]));
        var count = g.Node("Gather", [g.Node("Shape", [x]), g.Ints(1)]);
        var truth = True(g);
        var later = Body("later", [], [Op("MatMul", ["h", u], "b"), Op("Add", ["a", "b"], "z"), Op("Tanh", ["z"], "out")], "out");
        var first = Body("first", [], [Op("Tanh", ["a"], "out")], "out");
        var body = Body("cell", [("i", DataType.Int64), ("cond_in", DataType.Bool), ("h", DataType.Float)],
        [
            Op("Gather", [x, "i"], "x_i", Int("axis", 1)),
            Op("MatMul", ["x_i", w], "a"),
            Op("Greater", ["i", g.Ints(0)], "cond_later"),
            Op("Squeeze", ["cond_later"], "cond_scalar"),
            Op("If", ["cond_scalar"], "h_next", Graph("then_branch", later), Graph("else_branch", first)),
            Op("Identity", [truth], "cond_out"),
            Op("Identity", ["h_next"], "h_seen"),
        ], "cond_out", "h_next", "h_seen");
        var outputs = g.Nodes("Loop", [g.Node("Squeeze", [count]), truth, g.Param("h0", [2, 5])], 2, Graph("body", body));
        return (g.Node("Add", [outputs[1], outputs[0]]), [Steps, 2, 5]);
    }

    /// <summary>
    /// Branches the data decides nested <paramref name="depth"/> deep (each then-branch holds the next If, on the sign of
    /// another feature's sum), each level with a weight of its own: unrolled level by level, any depth.
    /// </summary>
    private static (string Y, long[] Dims) DeepBranches(TestGraph g, int depth = 6)
    {
        var x = Sequence(g);
        GraphProto Level(int level)
        {
            var w = g.Param($"w{level}", [3, 2]);
            if (level == depth) return Body($"leaf{level}", [], [Op("MatMul", [x, w], $"m{level}"), Op("Tanh", [$"m{level}"], $"out{level}")], $"out{level}");
            var sum = g.Node("ReduceSum", [g.Node("Gather", [x, g.Ints(level % 3)], Int("axis", 2))], Int("keepdims", 0));
            var positive = g.Node("Greater", [sum, g.Floats(0.1f * level)]);
            var otherwise = Body($"else{level}", [], [Op("MatMul", [x, w], $"n{level}"), Op("Neg", [$"n{level}"], $"neg{level}")], $"neg{level}");
            return Body($"then{level}", [],
            [
                Op("Squeeze", [positive], $"c{level}"),
                Op("If", [$"c{level}"], $"inner{level}", Graph("then_branch", Level(level + 1)), Graph("else_branch", otherwise)),
                Op("Sigmoid", [$"inner{level}"], $"scaled{level}"),
            ], $"scaled{level}");
        }

        var top = Level(1);
        var cond = g.Node("Squeeze", [g.Node("Greater", [g.Node("ReduceSum", [x], Int("keepdims", 0)), g.Floats(-100)])]);
        return (g.Node("If", [cond], Graph("then_branch", top), Graph("else_branch", Body("never", [], [Op("MatMul", [x, g.Param("w0", [3, 2])], "never_out")], "never_out"))), [2, Steps, 2]);
    }

    /// <summary>
    /// A <c>while</c> loop only the data ends, as a scripted model writes <c>while h.abs().max() > 1: h = h * sigmoid(p)</c>:
    /// no trip count, a condition computed from the values the body makes, a trained weight before it and one inside.
    /// Inputs scaled by <paramref name="scale"/> (h's size sets how many halvings it takes).
    /// </summary>
    private static (string Y, long[] Dims) WhileLoop(TestGraph g, double scale = 3)
    {
        var x = g.Input("x", [2, 3], scale);
        var (w, p) = (g.Param("w", [3, 4], 1), g.Param("p", [4]));
        var h0 = g.Node("MatMul", [x, w]);
        string Above(TestGraph graph, string value) => graph.Node("Squeeze", [graph.Node("Greater", [graph.Node("ReduceMax", [graph.Node("Abs", [value])], Int("keepdims", 0)), graph.Floats(1)])]);
        var body = Body("halve", [("i", DataType.Int64), ("cond_in", DataType.Bool), ("h", DataType.Float)],
        [
            Op("Sigmoid", [p], "shrink"),
            Op("Mul", ["h", "shrink"], "h_next"),
            Op("Abs", ["h_next"], "size"),
            Op("ReduceMax", ["size"], "largest", Int("keepdims", 0)),
            Op("Greater", ["largest", g.Floats(1)], "above"),
            Op("Squeeze", ["above"], "cond_out"),
        ], "cond_out", "h_next");
        var outputs = g.Nodes("Loop", ["", Above(g, h0), h0], 1, Graph("body", body));
        return (g.Node("Tanh", [outputs[0]]), [2, 4]);
    }

    /// <summary>
    /// A loop only the data ends trains once a bound is declared (<c>ModelInterface:MaxLoopTrips</c>): unrolled to it,
    /// each iteration past the data's end masked, the step computes what ONNX Runtime computes and follows finite
    /// differences; a batch whose loop would run past the bound is refused on the device, and without a bound the
    /// file is refused saying what to declare.
    /// </summary>
    [Fact]
    public void AWhileLoopTheDataEnds_TrainsUnrolledToADeclaredBound_AndABatchRunningLongerIsRefused()
    {
        var g = new TestGraph(DataType.Float, 17);
        var (y, dims) = WhileLoop(g);
        var model = g.Model(y, dims.Length);
        foreach (var (dim, extent) in model.Graph.Output[0].Type.TensorType.Shape.Dim.Zip(dims)) dim.DimValue = extent; // [2, 4]: a device's targets have a fixed width
        var labels = Enumerable.Range(0, 8).Select(i => Math.Cos(i)).ToArray();
        var feeds = new Dictionary<string, Feed>(g.Feeds) { ["labels"] = new Feed(dims, labels) };
        var served = TestGraph.Run(model, g.Feeds);
        var options = new TrainStepOptions("y", TrainingLoss.MeanSquaredError) { MaxLoopTrips = 12 };
        using var probe = new GradientProbe(model, options);
        Assert.Equal(served.Select((v, i) => (v - labels[i]) * (v - labels[i])).Sum() / 8, probe.Gradient(feeds).Loss, 5);
        Assert.DoesNotContain(probe.Step.Model.Graph.Node, n => n.OpType == "Loop");
        Assert.Contains(probe.Step.Model.Graph.Output, o => o.Name == ClassifierGraphs.LoopOverflowOutput);
        Assert.Contains(probe.Gradient(feeds).Gradients["p"], v => Math.Abs(v) > 1e-3); // the loop ran: the weight inside it moves the loss
        var error = probe.RelativeError(feeds, 1e-3);
        Assert.True(error < 2e-3, $"relative gradient error {error:E2}");

        // On a device: these samples step; samples a million times larger need more halvings than 12, and are refused.
        using var trainer = new TrainStepModel(Google.Protobuf.MessageExtensions.ToByteArray(probe.Step.Model), probe.Step.Layout, "x", [3]);
        var initial = probe.Step.Layout.Tensors.SelectMany(t => probe.Parameters[t.Name].Values!.Select(v => (float)v)).ToArray();
        var rows = g.Feeds["x"].Values!.Select(v => (float)v).ToArray();
        var plan = new LocalTrainingPlan(1, 2, 0.1f, 1);
        var targets = labels.Select(v => (float)v).ToArray();
        Assert.Equal(1, trainer.TrainTargets(initial, rows, targets, plan).Steps);
        var refused = Assert.Throws<InvalidDataException>(() => trainer.TrainTargets(initial, [.. rows.Select(v => v * 1e6f)], targets, plan));
        Assert.Contains("a loop the data ends ran past the iterations the train step unrolls (ModelInterface:MaxLoopTrips)", refused.Message, StringComparison.Ordinal);

        var unbounded = Assert.Throws<NotDifferentiableException>(() => TrainStepGenerator.Generate(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError)));
        Assert.Contains("(Loop): it has no trip count and nothing known stops it (a while loop the data ends)", unbounded.Message, StringComparison.Ordinal);
        Assert.Contains("declare how many iterations to unroll (ModelInterface:MaxLoopTrips=N)", unbounded.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A loop the data stops (after iteration <c>stop</c>, an input) stacking its state per iteration: the stack holds the
    /// states of the iterations that ran — 2 for stop 1, all 4 for stop 3 — as ONNX Runtime's Loop gives, and one step
    /// generated once follows finite differences at either.
    /// </summary>
    [Theory]
    [InlineData(1L, 2)]
    [InlineData(3L, 4)]
    public void ALoopTheDataStops_StacksTheStatesOfTheIterationsItRan_AndFollowsFiniteDifferences(long stop, int ran)
    {
        var g = new TestGraph(DataType.Float, 17);
        var (y, _) = ScriptedLoop(g, stopAfter: g.IntInput("stop", [], [stop]));
        var model = g.Model(y, 3);
        var served = TestGraph.Run(model, g.Feeds);
        Assert.Equal(ran * 2 * 5, served.Length);
        var labels = Enumerable.Range(0, served.Length).Select(i => Math.Sin(i)).ToArray();
        var feeds = new Dictionary<string, Feed>(g.Feeds) { ["labels"] = new Feed([ran, 2, 5], labels) };
        using var probe = new GradientProbe(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError));
        Assert.Equal(served.Select((v, i) => (v - labels[i]) * (v - labels[i])).Sum() / served.Length, probe.Gradient(feeds).Loss, 5);
        Assert.DoesNotContain(probe.Step.Model.Graph.Node, n => n.OpType == "Loop");
        var error = probe.RelativeError(feeds, 1e-2);
        Assert.True(error < 2e-3, $"stop {stop}: relative gradient error {error:E2}");
    }

    /// <summary>
    /// PyTorch's scripted model with a <c>while</c> the data ends keeping every refinement in a list it stacks
    /// (<c>export_scripted_while_stack.py</c>: a Loop with no useful trip count carrying the list, a ConcatFromSequence
    /// of as many states as the run made): unrolled to 16 iterations, each appended state flagged with whether the run
    /// made it, one step on a batch the loop runs 3 times follows PyTorch's gradient, no Loop or sequence op left.
    /// </summary>
    [Fact]
    public void APyTorchWhileLoopStackingItsStates_TrainsAsPyTorchsGradient()
    {
        static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);
        var bytes = File.ReadAllBytes(Fixture("pytorch_scripted_while_stack.onnx"));
        var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture("scripted_while_stack_expected.json"))).RootElement;
        Assert.Equal(3, expected.GetProperty("trips").GetInt32());
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { MaxLoopTrips = 16 });
        Assert.Contains(ModelProto.Parser.ParseFrom(bytes).Graph.Node, n => n.OpType == "ConcatFromSequence"); // served with its Loop and list
        Assert.DoesNotContain(ModelProto.Parser.ParseFrom(model.TrainStep!).Graph.Node, n => n.OpType.Contains("Sequence", StringComparison.Ordinal) || n.OpType == "Loop");
        using var served = InferenceModel.Load(bytes, model.Spec);
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        PyTorchBatch.AssertServedAndStepped(model, served, trainer, expected, "the while loop stacking its states, unrolled to 16");
    }

    /// <summary>
    /// PyTorch's scripted model with a <c>while</c> the data ends (<c>export_scripted_while.py</c>: the trunk's
    /// activations refined until the batch's largest is within 2; the exporter writes a Loop with no useful trip count):
    /// refused until a bound is declared, then served as exported and — unrolled to 16 iterations, the 4 the batch needs
    /// kept — one step follows PyTorch's gradient; with a bound of 3 that batch is refused on the device.
    /// </summary>
    [Fact]
    public void APyTorchWhileLoopTheDataEnds_TrainsAsPyTorchsGradient_WithinItsDeclaredBound()
    {
        static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);
        var bytes = File.ReadAllBytes(Fixture("pytorch_scripted_while.onnx"));
        var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture("scripted_while_expected.json"))).RootElement;
        Assert.Equal(4, expected.GetProperty("trips").GetInt32());
        var refused = Assert.Throws<NotDifferentiableException>(() => UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all")));
        Assert.Contains("nothing known stops it sooner", refused.Message, StringComparison.Ordinal);
        Assert.Contains("ModelInterface:MaxLoopTrips=N", refused.Message, StringComparison.Ordinal);

        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { MaxLoopTrips = 16 });
        Assert.Contains(ModelProto.Parser.ParseFrom(bytes).Graph.Node, n => n.OpType == "Loop"); // served with its Loop
        using var served = InferenceModel.Load(bytes, model.Spec);
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        PyTorchBatch.AssertServedAndStepped(model, served, trainer, expected, "the while loop unrolled to 16");

        var tight = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { MaxLoopTrips = 3 });
        using var tightTrainer = new TrainStepModel(tight.TrainStep!, tight.Spec);
        var overflow = Assert.Throws<InvalidDataException>(() => PyTorchBatch.AssertServedAndStepped(tight, served, tightTrainer, expected, "bound 3"));
        Assert.Contains("ran past the iterations the train step unrolls", overflow.Message, StringComparison.Ordinal);
    }

    /// <summary>A Loop of <paramref name="trips"/> whose body runs a Loop of as many trips, each adding a weight to the carried state.</summary>
    private static string NestedLoops(TestGraph g, long trips)
    {
        var w = g.Param("w", [2, 3]);
        var count = g.Node("Squeeze", [g.Ints(trips)]);
        var truth = True(g);
        var inner = Body("inner", [("j", DataType.Int64), ("cond_j", DataType.Bool), ("s", DataType.Float)], [Op("Add", ["s", w], "s_next"), Op("Identity", ["cond_j"], "cond_jo")], "cond_jo", "s_next");
        var outer = Body("outer", [("i", DataType.Int64), ("cond_i", DataType.Bool), ("h", DataType.Float)],
            [Op("Loop", [count, "cond_i", "h"], "h_next", Graph("body", inner)), Op("Identity", ["cond_i"], "cond_io")], "cond_io", "h_next");
        return g.Nodes("Loop", [count, truth, g.Input("x", [2, 3])], 1, Graph("body", outer))[0];
    }

    public static TheoryData<string> Names => ["loop", "scan", "if", "data-if", "nested", "break", "deep", "break-stack", "data-if-list", "data-if-no-list"];

    private static (string Y, long[] Dims) Build(string name, TestGraph g) => name switch
    {
        "loop" => ScriptedLoop(g),
        "scan" => ReversedScan(g),
        "data-if" => DataBranch(g),
        "nested" => NestedBranch(g),
        "break" => ScriptedLoop(g, stopsEarly: true, stacked: false), // stops after 3 of its 4 trips: the last state is the third's
        "deep" => DeepBranches(g), // seven Ifs nested in one another
        "break-stack" => ScriptedLoop(g, stopsEarly: true), // the states of the 3 iterations the break leaves, stacked
        "data-if-list" => DataListBranch(g, appends: true),
        "data-if-no-list" => DataListBranch(g, appends: false),
        _ => ShapeTest(g),
    };

    [Theory]
    [MemberData(nameof(Names))]
    public void TheUnrolledStep_ComputesWhatTheModelComputes_AndFollowsFiniteDifferences(string name)
    {
        var g = new TestGraph(DataType.Float, 17);
        var (y, dims) = Build(name, g);
        var model = g.Model(y, dims.Length);
        var count = (int)dims.Aggregate(1L, (a, b) => a * b);
        var labels = Enumerable.Range(0, count).Select(i => Math.Sin(i)).ToArray();
        var feeds = new Dictionary<string, Feed>(g.Feeds) { ["labels"] = new Feed(dims, labels) };

        // What ONNX Runtime computes on the model with its control flow, against the loss the unrolled step reports.
        var served = TestGraph.Run(model, g.Feeds);
        var mse = served.Select((v, i) => (v - labels[i]) * (v - labels[i])).Sum() / count;
        using var probe = new GradientProbe(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError));
        Assert.Equal(mse, probe.Gradient(feeds).Loss, 5);
        Assert.DoesNotContain(probe.Step.Model.Graph.Node, n => n.OpType is "Loop" or "Scan" or "If");
        Assert.Equal(name switch { "if" => ["w_long"], "data-if" => ["w_neg", "w_pos"], "nested" => ["u", "w"], "deep" => ["w0", "w1", "w2", "w3", "w4", "w5", "w6"], "data-if-list" => ["a", "b", "c"], "data-if-no-list" => ["a", "b", "c"], _ => ["h0", "u", "w"] }, probe.Step.Trained.Order(StringComparer.Ordinal)); // a shape test's branch not taken trains nothing; a data-decided one gets zeros
        var error = probe.RelativeError(feeds, 1e-2);
        Assert.True(error < 2e-3, $"{name}: relative gradient error {error:E2}");
    }

    /// <summary>
    /// The scripted PyTorch block (a for loop and an if, <c>export_pytorch_blocks.py</c>): <c>last:N</c> counts the layers
    /// inside its loop and branch where they stand, and a loop no trained parameter reaches stays a Loop in the step.
    /// </summary>
    [Fact]
    public void AScriptedModelsLastLayers_CountThoseInItsLoopAndBranch_AndAFrozenLoopIsRunAsExported()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", "pytorch_block_scripted.onnx"));
        Assert.Equal(["cell.weight", "cell.bias", "recur.weight", "recur.bias", "wide.weight", "wide.bias", "head.weight", "head.bias"],
            TrainableSelection.LastLayers(ModelProto.Parser.ParseFrom(bytes), 4));
        var uploaded = EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(bytes, new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("last:2"));
        Assert.Equal(["wide.weight", "wide.bias", "head.weight", "head.bias"], uploaded.Spec.Graph!.Trained.Select(t => t.Name));
        var step = ModelProto.Parser.ParseFrom(uploaded.TrainStep!);
        Assert.Contains(step.Graph.Node, n => n.OpType == "Loop");
        Assert.DoesNotContain(step.Graph.Node, n => n.OpType == "If");
    }

    [Fact]
    public void WhatCannotBeUnrolled_IsRefused_NamingTheNodeAndWhy()
    {
        string Refusal(Func<TestGraph, string> build)
        {
            var g = new TestGraph(DataType.Float, 17);
            var model = g.Model(build(g), 3);
            return Assert.Throws<NotDifferentiableException>(() => TrainStepGenerator.Generate(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError))).Message;
        }

        Assert.Contains("it runs 1100 times; the train step unrolls 1 to 1024", Refusal(g => ScriptedLoop(g, trips: 1100).Y), StringComparison.Ordinal);

        // A branch the data decides appending a tensor of another shape: which list the run holds does not stack.
        var g2 = new TestGraph(DataType.Float, 17);
        var decided = g2.Node("Squeeze", [g2.Node("Greater", [g2.Node("ReduceSum", [Sequence(g2)], Int("keepdims", 0)), g2.Floats(-100)])]);
        var list = g2.Node("SequenceConstruct", [g2.Node("Tanh", [g2.Param("a", [2, 3])])]);
        var then = Body("append", [], [Op("SequenceInsert", [list, g2.Param("b", [2, 4])], "out")], "out");
        var otherwise = Body("keep", [], [Op("Identity", [list], "out")], "out");
        foreach (var branch in new[] { then, otherwise }) branch.Output[0].Type = null; // a sequence: its type inferred
        var length = g2.Node("Cast", [g2.Node("SequenceLength", [g2.Node("If", [decided], Graph("then_branch", then), Graph("else_branch", otherwise))])], Int("to", (long)DataType.Float));
        var mixedModel = g2.Model(g2.Node("Mul", [g2.Node("Tanh", [g2.Param("c", [2, 3])]), length]), 2);
        Assert.Equal(6, TestGraph.Run(mixedModel, g2.Feeds).Length); // ONNX Runtime runs the model with its lists
        var mixed = Assert.Throws<NotDifferentiableException>(() => TrainStepGenerator.Generate(mixedModel, new TrainStepOptions("y", TrainingLoss.MeanSquaredError))).Message;
        Assert.Contains("(Where): a branch the data decides, or a loop that stops early, carries a list whose tensors have different shapes", mixed, StringComparison.Ordinal);

        // A loop of 1,000 trips around one of 1,000 would copy a million bodies: refused before it is built, naming the loop.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Contains("unrolling it copies more than 250,000 nodes into the train step (nested loops multiply their trips)", Refusal(g => NestedLoops(g, 1000)), StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"refusing took {clock.Elapsed}");

    }

    /// <summary>
    /// PyTorch's scripted model with a branch the data decides (<c>export_scripted_branch.py</c>: an <c>if</c> on the
    /// batch's mean intensity choosing a ReLU layer or a tanh layer): served as exported, and one step on a bright batch
    /// and one on a dim batch each follow PyTorch's gradient — the layer of the branch not taken unmoved.
    /// </summary>
    [Fact]
    public void APyTorchBranchTheDataDecides_TrainsTheBranchEachBatchTakes_AsPyTorchsGradient()
    {
        static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);
        var bytes = File.ReadAllBytes(Fixture("pytorch_scripted_branch.onnx"));
        var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture("scripted_branch_expected.json"))).RootElement;
        var model = EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(bytes, new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("all"));
        Assert.Contains(ModelProto.Parser.ParseFrom(bytes).Graph.Node, n => n.OpType == "If"); // served with its If
        using var served = InferenceModel.Load(bytes, model.Spec);
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        var initial = model.InitialWeights();
        foreach (var (batch, untaken) in new[] { ("bright", "dim"), ("dim", "bright") })
        {
            var after = PyTorchBatch.AssertServedAndStepped(model, served, trainer, expected.GetProperty(batch), batch);
            foreach (var tensor in initial.Layout.Tensors.Where(t => t.Name.StartsWith(untaken + ".", StringComparison.Ordinal)))
                Assert.Equal(initial.Values.AsSpan(tensor.Offset, tensor.Length).ToArray(), after.AsSpan(tensor.Offset, tensor.Length).ToArray());
        }
    }

    /// <summary>
    /// PyTorch's scripted cell with an <c>if</c> on the row's index inside its <c>for</c> loop
    /// (<c>export_scripted_nested.py</c>: an If inside the Loop's body): served as exported, and one step — the loop
    /// unrolled, then each iteration's branch taken by its index — follows PyTorch's gradient.
    /// </summary>
    [Fact]
    public void APyTorchBranchInsideALoop_IsUnrolledLevelByLevel_AndTrainsAsPyTorchsGradient()
    {
        static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);
        var bytes = File.ReadAllBytes(Fixture("pytorch_scripted_nested.onnx"));
        var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture("scripted_nested_expected.json"))).RootElement;
        var model = EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(bytes, new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("all"));
        var step = ModelProto.Parser.ParseFrom(model.TrainStep!);
        Assert.DoesNotContain(step.Graph.Node, n => n.OpType is "Loop" or "If" or "Where"); // every iteration's branch known from its index
        using var served = InferenceModel.Load(bytes, model.Spec);
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        PyTorchBatch.AssertServedAndStepped(model, served, trainer, expected);
    }

    /// <summary>
    /// PyTorch's scripted cell with a <c>break</c> the data decides (<c>export_scripted_break.py</c>: a Loop whose body
    /// computes whether to go on, stopping after a faint row): every trip unrolled and masked by the running condition,
    /// so a batch that stops after 6 rows and one that reads all 8 each follow PyTorch's gradient.
    /// </summary>
    [Fact]
    public void APyTorchLoopWithABreak_TrainsOnTheIterationsTheRunMade_AsPyTorchsGradient()
    {
        static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);
        var bytes = File.ReadAllBytes(Fixture("pytorch_scripted_break.onnx"));
        var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture("scripted_break_expected.json"))).RootElement;
        var model = EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(bytes, new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("all"));
        using var served = InferenceModel.Load(bytes, model.Spec);
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        Assert.Equal([6, 8], new[] { "early", "full" }.Select(b => expected.GetProperty(b).GetProperty("rowsRead").GetInt32()));
        foreach (var batch in new[] { "early", "full" }) PyTorchBatch.AssertServedAndStepped(model, served, trainer, expected.GetProperty(batch), batch);
    }
}
