using EdgeMlOps.Shared.Onnx.Proto;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// For the train step only: replaces each Loop, Scan and If node that a trained parameter reaches — through its inputs,
/// or by a name its body reads from the enclosing graph, as scripted PyTorch loops read their weights — with the nodes
/// it stands for: a Loop's body once per iteration, a Scan's body once per slice, the branch an If takes — or, when the
/// data decides at run time, both branches and a Where on the condition, so the gradient reaches the branch taken. Reverse
/// mode then runs over ordinary nodes, so a loop back-propagates through every iteration as an unrolled recurrent
/// layer does. The served file keeps its control flow. What the unrolling needs is known statically or refused,
/// naming the node: a Loop's trip count (a constant, or an extent of a known shape, at most
/// <see cref="MaxIterations"/>) — a body that stops it early (a break) runs every iteration masked by the running
/// condition, and the values it stacks per iteration are those of the iterations that ran —, a Scan's scanned extent. Control flow nested in a
/// body is copied with the body and unrolled in a later pass, at any depth, within <see cref="MaxUnrolledNodes"/>
/// nodes copied in all (nested loops multiply their trips; the budget is checked before each copy, so a file whose
/// unrolling would not fit is refused without building it). An If whose condition is known (a constant, or a comparison of known extents — the shape tests scripted
/// models make) is its branch alone.
/// </summary>
internal static class ControlFlowInlining
{
    /// <summary>Most iterations a Loop or Scan is unrolled into (each keeps its activations for the backward pass).</summary>
    public const int MaxIterations = 1024;

    /// <summary>Most nodes unrolling may copy into one train step, nested bodies included.</summary>
    public const long MaxUnrolledNodes = 250_000;

    public static bool IsControlFlow(NodeProto node) => node.OpType is ("Loop" or "Scan" or "If") && node.Domain is ("" or "ai.onnx");

    /// <summary>The names a node's bodies read from the enclosing graph (empty for a node without bodies).</summary>
    public static IEnumerable<string> OuterReads(NodeProto node) =>
        node.Attribute.Where(a => a.G is not null).SelectMany(a => OuterReads(a.G));

    /// <summary>Every node of <paramref name="graph"/> and of the bodies of its control flow, at any depth.</summary>
    public static IEnumerable<NodeProto> AllNodes(GraphProto graph) =>
        graph.Node.SelectMany(n => n.Attribute.Where(a => a.G is not null).SelectMany(a => AllNodes(a.G)).Prepend(n));

    /// <summary>
    /// Inlines the control-flow nodes <paramref name="reached"/> selects, in place; returns how many. A loop only the data
    /// ends is unrolled to <paramref name="maxLoopTrips"/> iterations (its overflow flag kept in <see cref="GraphWriter.Overflows"/>), or refused without one.
    /// </summary>
    public static int Apply(GraphProto graph, GraphWriter writer, Func<NodeProto, bool> reached, int? maxLoopTrips = null) =>
        NodeExpansion.Apply(graph, node => IsControlFlow(node) && reached(node), (node, facts) => new Inliner(node, writer, facts, maxLoopTrips).Write());

    private static IEnumerable<string> OuterReads(GraphProto body)
    {
        var local = new HashSet<string>(body.Input.Select(i => i.Name).Concat(body.Initializer.Select(t => t.Name)), StringComparer.Ordinal);
        foreach (var node in body.Node)
        {
            foreach (var input in node.Input.Concat(OuterReads(node)).Where(n => n.Length > 0 && !local.Contains(n))) yield return input;
            local.UnionWith(node.Output);
        }

        foreach (var output in body.Output.Select(o => o.Name).Where(n => !local.Contains(n))) yield return output;
    }

    /// <summary>One control-flow node written out as ordinary nodes under the node's own output names.</summary>
    private sealed class Inliner(NodeProto node, GraphWriter w, GraphFacts facts, int? maxLoopTrips)
    {
        public void Write()
        {
            switch (node.OpType)
            {
                case "Loop":
                    Loop();
                    break;
                case "Scan":
                    Scan();
                    break;
                default:
                    If();
                    break;
            }
        }

        private void Loop()
        {
            var body = Body("body");
            var carried = node.Input.Count - 2;
            var scanned = body.Output.Count - 1 - carried;
            if (body.Input.Count != carried + 2 || scanned < 0) throw Refuse($"its body takes {body.Input.Count} inputs and makes {body.Output.Count} outputs for {carried} loop-carried values");
            long? count = node.Input[0].Length == 0 ? null : facts.Values(node.Input[0]) is [long known] && !ValueDims.IsSymbol(known) ? known
                : throw Refuse("its trip count is not known where it starts (export with fixed extents; a count read off a free axis is known once that axis is pinned at one length, ModelInterface:AxisLengths)");
            var always = (node.Input[1].Length == 0 || Truth(node.Input[1], null) == true) && Truth(body.Output[0].Name, body) == true;
            if (always) CheckTrips(count ?? throw Refuse("it has no trip count: it runs until its body says stop"));

            // A body that computes when to stop bounds the loop where its condition is false whatever the data — a
            // scripted for loop with a break computes i + 1 < N beside the break — found by evaluating the condition on
            // the known values each iteration would carry while running (BodyValues).
            var (trips, declared) = always ? (count!.Value, false) : BoundedTrips(body, carried, count);

            // A loop that may stop early (a break, a condition the body computes) runs every iteration of its trip count,
            // each one's carried values kept only while the loop is still running (Where on the running condition), so
            // the gradient reaches just the iterations the run made.
            var state = node.Input.Skip(2).ToArray();
            var stacks = Enumerable.Range(0, scanned).Select(_ => new List<string>()).ToArray();
            var truth = True();
            var running = always ? truth : node.Input[1].Length == 0 ? truth : Scalar(node.Input[1]);
            var ran = new List<string>(); // whether each iteration ran: the values a loop that may stop early stacks are those iterations'
            for (var k = 0L; k < trips; k++)
            {
                ran.Add(running);
                var names = new Dictionary<string, string>(StringComparer.Ordinal) { [body.Input[0].Name] = w.Int64Constant(k), [body.Input[1].Name] = running };
                for (var j = 0; j < carried; j++) names[body.Input[2 + j].Name] = state[j];
                Copy(body, names);
                var next = Enumerable.Range(0, carried).Select(j => Resolve(names, body.Output[1 + j].Name));
                state = always ? [.. next] : [.. next.Select((value, j) => Kept(running, value, state[j], body.Input[2 + j]))];
                if (!always) running = w.Node("And", [running, Scalar(Resolve(names, body.Output[0].Name))]);
                for (var j = 0; j < scanned; j++) stacks[j].Add(Resolve(names, body.Output[1 + carried + j].Name));
            }

            if (declared) w.Overflows.Add(running); // still running after the declared bound: the step would not be the loop's
            for (var j = 0; j < carried; j++) Emit(j, "Identity", [state[j]]);
            for (var j = 0; j < scanned; j++)
            {
                if (always) Stack(carried + j, stacks[j], 0);
                else Kept(carried + j, stacks[j], ran);
            }
        }

        /// <summary>
        /// How many iterations a loop whose body computes its condition can make: its trip count, or fewer where the
        /// condition is false whatever the data (evaluated on the known values — the iteration number, constants,
        /// counters — each iteration carries while the loop runs); refused when nothing bounds it at
        /// <see cref="MaxIterations"/> — unless a bound is declared for loops only the data ends (then the bound, and true).
        /// </summary>
        private (long Trips, bool Declared) BoundedTrips(GraphProto body, int carried, long? count)
        {
            var values = node.Input.Skip(2).Select(Known).ToArray();
            for (var k = 0L; k < Math.Min(count ?? long.MaxValue, MaxIterations + 1L); k++)
            {
                var env = new Dictionary<string, long?>(StringComparer.Ordinal) { [body.Input[0].Name] = k, [body.Input[1].Name] = 1 };
                for (var j = 0; j < carried; j++) env[body.Input[2 + j].Name] = values[j];
                var known = new BodyValues(body, env, Known);
                if (known.Of(body.Output[0].Name) == 0) return (k + 1, false); // it cannot go on after this one
                values = [.. Enumerable.Range(0, carried).Select(j => known.Of(body.Output[1 + j].Name))];
            }

            if (count is { } trips && trips <= MaxIterations) return (trips, false);
            if (maxLoopTrips is { } bound) return (bound, true); // the data ends it: unrolled to the declared bound, a longer run flagged
            throw Refuse(count is null
                ? $"it has no trip count and nothing known stops it (a while loop the data ends); the train step unrolls loops that stop within 1 to {MaxIterations} iterations — declare how many iterations to unroll (ModelInterface:MaxLoopTrips=N) and a batch whose loop runs longer is refused on the device"
                : $"it runs up to {count} times and nothing known stops it sooner; the train step unrolls 1 to {MaxIterations} (or declare ModelInterface:MaxLoopTrips=N for a loop the data ends sooner)");
        }

        /// <summary>An integer or bool scalar of the enclosing graph, where known statically (bools as 0 or 1).</summary>
        private long? Known(string name) => facts.Values(name) is [long value] && !ValueDims.IsSymbol(value) ? value : facts.ConstantInts(name) is [long constant] ? constant : Truth(name, null) is { } truth ? (truth ? 1 : 0) : null;

        private void Scan()
        {
            var body = Body("body");
            var scanInputs = (int)GraphFacts.AttributeInt(node, "num_scan_inputs", 0);
            var states = node.Input.Count - scanInputs;
            var scanOutputs = body.Output.Count - states;
            if (scanInputs < 1 || states < 0 || body.Input.Count != states + scanInputs || scanOutputs < 0) throw Refuse($"its body takes {body.Input.Count} inputs and makes {body.Output.Count} outputs for {states} states and {scanInputs} scanned inputs");
            var inputAxes = GraphFacts.AttributeInts(node, "scan_input_axes") ?? new long[scanInputs];
            var inputReversed = GraphFacts.AttributeInts(node, "scan_input_directions") ?? new long[scanInputs];
            var outputAxes = GraphFacts.AttributeInts(node, "scan_output_axes") ?? new long[scanOutputs];
            var outputReversed = GraphFacts.AttributeInts(node, "scan_output_directions") ?? new long[scanOutputs];
            var first = node.Input[states];
            var dims = facts.Dims(first);
            var axis = dims is null ? -1 : (int)(inputAxes[0] < 0 ? inputAxes[0] + dims.Length : inputAxes[0]);
            var trips = (axis >= 0 && axis < dims!.Length ? ValueDims.Extent(dims[axis]) : null) ?? throw Refuse($"the extent it scans of '{first}' is not known (export with fixed extents)");
            CheckTrips(trips);

            var state = node.Input.Take(states).ToArray();
            var stacks = Enumerable.Range(0, scanOutputs).Select(_ => new List<string>()).ToArray();
            for (var k = 0L; k < trips; k++)
            {
                var names = new Dictionary<string, string>(StringComparer.Ordinal);
                for (var j = 0; j < states; j++) names[body.Input[j].Name] = state[j];
                for (var j = 0; j < scanInputs; j++)
                {
                    var at = inputReversed[j] != 0 ? trips - 1 - k : k;
                    names[body.Input[states + j].Name] = w.Node("Gather", [node.Input[states + j], w.Int64Constant(at)], Int("axis", inputAxes[j]));
                }

                Copy(body, names);
                state = [.. Enumerable.Range(0, states).Select(j => Resolve(names, body.Output[j].Name))];
                for (var j = 0; j < scanOutputs; j++) stacks[j].Add(Resolve(names, body.Output[states + j].Name));
            }

            for (var j = 0; j < states; j++) Emit(j, "Identity", [state[j]]);
            for (var j = 0; j < scanOutputs; j++)
            {
                if (outputReversed[j] != 0) stacks[j].Reverse();
                Stack(states + j, stacks[j], outputAxes[j]);
            }
        }

        private void If()
        {
            if (Truth(node.Input[0], null) is { } taken)
            {
                var (branch, names) = Branch(taken ? "then_branch" : "else_branch");
                for (var j = 0; j < node.Output.Count; j++) Emit(j, "Identity", [Resolve(names, branch.Output[j].Name)]);
                return;
            }

            // Decided by the data: both branches run forward, and each output is the taken one's (Where on the
            // condition, a bool of one element for the whole batch, as the If reads it); the gradient flows to that branch
            // alone, the other's parameters get zeros. A branch must make outputs of the other's shape.
            var (then, thenNames) = Branch("then_branch");
            var (otherwise, elseNames) = Branch("else_branch");
            var condition = Scalar(node.Input[0]);
            for (var j = 0; j < node.Output.Count; j++)
                Emit(j, "Identity", [Kept(condition, Resolve(thenNames, then.Output[j].Name), Resolve(elseNames, otherwise.Output[j].Name), then.Output[j])]);
        }

        /// <summary>An If's branch copied into the graph: its body and the names its values got.</summary>
        private (GraphProto Body, Dictionary<string, string> Names) Branch(string attribute)
        {
            var branch = Body(attribute);
            if (branch.Output.Count != node.Output.Count) throw Refuse($"its {attribute} makes {branch.Output.Count} outputs for {node.Output.Count}");
            var names = new Dictionary<string, string>(StringComparer.Ordinal);
            Copy(branch, names);
            return (branch, names);
        }

        /// <summary>A condition (a bool of one element) as a scalar, so a Where on it keeps its operands' shapes.</summary>
        private string Scalar(string condition) => w.Node("Reshape", [condition, w.Int64s()]);

        private GraphProto Body(string attribute)
        {
            var body = node.Attribute.FirstOrDefault(a => a.Name == attribute)?.G ?? throw Refuse($"it has no '{attribute}' graph");
            if (body.Node.FirstOrDefault(n => n.Attribute.Any(a => a.Graphs.Count > 0)) is { } listed)
                throw Refuse($"its body holds a node with a list of graphs (node '{NotDifferentiableException.NodeLabel(listed)}', {listed.OpType})");
            return body;
        }

        private void CheckTrips(long trips)
        {
            if (trips is < 1 or > MaxIterations) throw Refuse($"it runs {trips} times; the train step unrolls 1 to {MaxIterations}");
        }

        /// <summary>
        /// Appends the body's nodes once, each value it makes under a fresh name recorded in <paramref name="names"/>
        /// (which maps its inputs already); names read from the enclosing graph stay as they are. The body's own
        /// initializers become Constant nodes: constants of the step, never parameters it trains.
        /// </summary>
        private void Copy(GraphProto body, Dictionary<string, string> names)
        {
            w.Unrolled += AllNodes(body).LongCount() + body.Initializer.Count;
            if (w.Unrolled > MaxUnrolledNodes)
                throw Refuse($"unrolling it copies more than {MaxUnrolledNodes:N0} nodes into the train step (nested loops multiply their trips); train only parameters after it, or export with fewer iterations");
            foreach (var tensor in body.Initializer)
            {
                var value = tensor.Clone();
                value.Name = string.Empty;
                names[tensor.Name] = w.Node("Constant", [], Tensor("value", value));
            }

            foreach (var original in body.Node)
            {
                var copy = original.Clone();
                copy.Name = w.Fresh("inlined");
                for (var i = 0; i < copy.Input.Count; i++) copy.Input[i] = Resolve(names, copy.Input[i]);
                foreach (var nested in copy.Attribute.Where(a => a.G is not null)) RenameOuterReads(nested.G, names, []); // control flow inside the body, unrolled in the next pass
                for (var i = 0; i < copy.Output.Count; i++)
                {
                    if (copy.Output[i].Length == 0) continue;
                    names[original.Output[i]] = copy.Output[i] = w.Fresh("inlined");
                }

                w.Graph.Node.Add(copy);
            }
        }

        /// <summary>
        /// In a body nested in the one being copied, the names it reads from the enclosing bodies — not its own inputs,
        /// initializers or values, at any depth — renamed as the copy renamed them.
        /// </summary>
        private static void RenameOuterReads(GraphProto graph, Dictionary<string, string> names, HashSet<string> outerLocal)
        {
            var local = new HashSet<string>(outerLocal, StringComparer.Ordinal);
            local.UnionWith(graph.Input.Select(i => i.Name).Concat(graph.Initializer.Select(t => t.Name)));
            foreach (var node in graph.Node)
            {
                for (var i = 0; i < node.Input.Count; i++)
                {
                    if (!local.Contains(node.Input[i])) node.Input[i] = Resolve(names, node.Input[i]);
                }

                foreach (var nested in node.Attribute.Where(a => a.G is not null)) RenameOuterReads(nested.G, names, local);
                local.UnionWith(node.Output);
            }

            foreach (var output in graph.Output.Where(o => !local.Contains(o.Name))) output.Name = Resolve(names, output.Name);
        }

        private static string Resolve(Dictionary<string, string> names, string name) => name.Length > 0 && names.TryGetValue(name, out var renamed) ? renamed : name;

        /// <summary>The node's output <paramref name="index"/> (when used) as <paramref name="op"/> of <paramref name="inputs"/>.</summary>
        private void Emit(int index, string op, IEnumerable<string> inputs, params AttributeProto[] attributes)
        {
            if (index < node.Output.Count && node.Output[index].Length > 0) w.NodeTo(node.Output[index], op, inputs, attributes);
        }

        /// <summary>Per-iteration values stacked along a new <paramref name="axis"/>, as Loop and Scan stack their scan outputs.</summary>
        private void Stack(int index, List<string> values, long axis)
        {
            var axes = w.Int64s(axis);
            Emit(index, "Concat", values.Select(v => w.Node("Unsqueeze", [v, axes])), Int("axis", axis));
        }

        /// <summary>
        /// <paramref name="value"/> where <paramref name="condition"/> holds, else <paramref name="old"/> (a carried value
        /// after an iteration that ran only while the loop runs, a branch's output): a Where, or for a bool (a scripted
        /// break's flag; ONNX Runtime has no Where of bools) the same in And, Or and Not.
        /// </summary>
        private string Kept(string condition, string value, string old, ValueInfoProto type)
        {
            if (type.Type?.TensorType?.ElemType != (int)DataType.Bool) return w.Node("Where", [condition, value, old]);
            return w.Node("Or", [w.Node("And", [condition, value]), w.Node("And", [w.Node("Not", [condition]), old])]);
        }

        /// <summary>
        /// The per-iteration values of a loop that may stop early, stacked on axis 0 as its scan output: those of the
        /// iterations that ran (a Gather of them, so dY reaches only those; the others ran masked and are dropped).
        /// </summary>
        private void Kept(int index, List<string> values, List<string> ran)
        {
            var axes = w.Int64s(0);
            var stacked = w.Node("Concat", values.Select(v => w.Node("Unsqueeze", [v, axes])), Int("axis", 0));
            var flags = w.Node("Concat", ran.Select(r => w.Node("Unsqueeze", [r, axes])), Int("axis", 0));
            var iterations = w.Node("Compress", [w.Int64s([.. Enumerable.Range(0, values.Count).Select(k => (long)k)]), flags], Int("axis", 0));
            Emit(index, "Gather", [stacked, iterations], Int("axis", 0));
        }

        /// <summary>A bool scalar true, as a Constant node.</summary>
        private string True()
        {
            var tensor = new TensorProto { DataType = (int)DataType.Bool };
            tensor.Int32Data.Add(1);
            return w.Node("Constant", [], Tensor("value", tensor));
        }

        /// <summary>
        /// A bool scalar's value where known statically: a constant (in <paramref name="body"/> or the enclosing graph), an
        /// Identity, reshaping or Not of one, or a comparison of two known extents; null otherwise.
        /// </summary>
        private bool? Truth(string name, GraphProto? body)
        {
            var producer = body?.Node.FirstOrDefault(n => n.Output.Contains(name));
            if (body is not null && producer is null) return body.Input.Count > 1 && body.Input[1].Name == name && node.OpType == "Loop" ? true : Truth(name, null); // a Loop's cond_in is true while it runs
            producer ??= facts.Producer(name);
            var tensor = facts.Initializer(name) ?? (producer?.OpType == "Constant" ? producer.Attribute.FirstOrDefault(a => a.Name == "value")?.T : null);
            if (tensor is not null) return tensor.DataType == (int)DataType.Bool && tensor.Dims.Aggregate(1L, (a, d) => a * d) == 1 ? (tensor.Int32Data.Count > 0 ? tensor.Int32Data[0] != 0 : tensor.RawData.Length == 1 ? tensor.RawData[0] != 0 : null) : null;
            if (producer is null) return null;
            switch (producer.OpType)
            {
                case "Identity" or "Squeeze" or "Unsqueeze" or "Reshape" or "Cast" when producer.OpType != "Cast" || GraphFacts.AttributeInt(producer, "to", 0) == (int)DataType.Bool:
                    return Truth(producer.Input[0], body);
                case "Not":
                    return !Truth(producer.Input[0], body);
                case "Equal" or "Greater" or "Less" or "GreaterOrEqual" or "LessOrEqual" when body is null:
                    if (facts.Values(producer.Input[0]) is not [long a] || facts.Values(producer.Input[1]) is not [long b] || a < 0 || b < 0) return null; // extents known, not symbols
                    return producer.OpType switch { "Equal" => a == b, "Greater" => a > b, "Less" => a < b, "GreaterOrEqual" => a >= b, _ => a <= b };
                default:
                    return null;
            }
        }

        private NotDifferentiableException Refuse(string why) => NotDifferentiableException.ForNode(node, why);
    }
}
