using EdgeMlOps.Shared.Onnx.Proto;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// For the train step only: rewrites each RNN, GRU and LSTM node that a trained parameter reaches into the time steps
/// it stands for — MatMul, Add, Slice, Sigmoid, Tanh and Mul, which have gradient rules — so back-propagation
/// through time is ordinary reverse mode over the unrolled steps. The parameters stay the node's own W, R, B (and P)
/// tensors, read through Gather/Slice, so updates name the uploaded model's initializers. The sequence length must be
/// known where the node reads it (<see cref="ValueDims"/>); the default activations only, no clip, no
/// <c>sequence_lens</c> (packed sequences) and no coupled input-forget gate — anything else is refused naming the node.
/// </summary>
internal static class RecurrentUnrolling
{
    private static readonly Dictionary<string, int> GateCount = new(StringComparer.Ordinal) { ["RNN"] = 1, ["GRU"] = 3, ["LSTM"] = 4 };

    private static readonly Dictionary<string, string[]> DefaultActivations = new(StringComparer.Ordinal)
    {
        ["RNN"] = ["Tanh"], ["GRU"] = ["Sigmoid", "Tanh"], ["LSTM"] = ["Sigmoid", "Tanh", "Tanh"],
    };

    public static bool IsRecurrent(string opType) => GateCount.ContainsKey(opType);

    /// <summary>Unrolls the recurrent nodes <paramref name="reached"/> selects, in place; returns how many.</summary>
    public static int Apply(GraphProto graph, GraphWriter writer, Func<NodeProto, bool> reached)
    {
        var unrolled = 0;
        for (var i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            if (!IsRecurrent(node.OpType) || node.Domain is not ("" or "ai.onnx") || !reached(node)) continue;
            var facts = new GraphFacts(graph);
            graph.Node.RemoveAt(i);
            var end = graph.Node.Count;
            new Unroller(node, writer, facts).Write();
            var added = graph.Node.Skip(end).ToList();
            for (var k = graph.Node.Count - 1; k >= end; k--) graph.Node.RemoveAt(k);
            for (var k = 0; k < added.Count; k++) graph.Node.Insert(i + k, added[k]);
            i += added.Count - 1;
            unrolled++;
        }

        return unrolled;
    }

    /// <summary>One recurrent node's unrolled steps, written with the node's own output names.</summary>
    private sealed class Unroller(NodeProto node, GraphWriter w, GraphFacts facts)
    {
        private readonly int _gates = GateCount[node.OpType];
        private readonly long _hidden = GraphFacts.AttributeInt(node, "hidden_size", 0);
        private readonly bool _resetAfter = GraphFacts.AttributeInt(node, "linear_before_reset", 0) != 0;

        public void Write()
        {
            Check();
            var x = node.Input[0];
            var steps = (facts.Dims(x) is { } known ? known[0] : null)
                ?? throw Refuse("its sequence length is not known where it reads its input (export with a fixed number of steps)");
            var direction = GraphFacts.AttributeString(node, "direction") ?? "forward";
            var reverse = direction switch
            {
                "forward" => new[] { false },
                "reverse" => [true],
                "bidirectional" => [false, true],
                _ => throw Refuse($"direction '{direction}' is not an ONNX direction"),
            };

            var outputs = new string[steps][];
            var finals = new List<(string H, string? C)>();
            for (var d = 0; d < reverse.Length; d++)
            {
                var sequence = Direction(x, d, steps, reverse[d]);
                for (var t = 0; t < steps; t++) (outputs[t] ??= new string[reverse.Length])[d] = sequence.PerStep[t];
                finals.Add(sequence.Last);
            }

            if (Wanted(0))
            {
                var perStep = outputs.Select(o => Concat([.. o.Select(h => Unsqueeze(h, 0, 1))], 1)).ToArray();
                var y = Concat(perStep, 0); // [T, dirs, B, H]
                Emit(0, y);
            }

            if (Wanted(1)) Emit(1, State(finals.Select(f => f.H)));
            if (Wanted(2) && node.OpType == "LSTM") Emit(2, State(finals.Select(f => f.C!)));
        }

        private void Check()
        {
            if (_hidden <= 0) throw Refuse("hidden_size is missing");
            if (GraphFacts.AttributeInt(node, "layout", 0) != 0) throw Refuse("layout 1 (batch-major) is not run by ONNX Runtime either; export with layout 0");
            if (Optional(4) is not null) throw Refuse("sequence_lens (packed, variable-length sequences) cannot be unrolled; pad to a fixed length and export without packing");
            if (node.Attribute.Any(a => a.Name == "clip")) throw Refuse("a clipped cell has no gradient rule");
            if (GraphFacts.AttributeInt(node, "input_forget", 0) != 0) throw Refuse("a coupled input-forget gate has no gradient rule");
            if (node.Attribute.FirstOrDefault(a => a.Name == "activations") is { } activations)
            {
                var names = activations.Strings.Select(s => s.ToStringUtf8()).ToArray();
                var defaults = DefaultActivations[node.OpType];
                var expected = names.Length > defaults.Length ? [.. defaults, .. defaults] : defaults;
                if (!names.SequenceEqual(expected, StringComparer.OrdinalIgnoreCase))
                    throw Refuse($"activations {string.Join(", ", names)} are not the default ({string.Join(", ", defaults)})");
            }
        }

        /// <summary>One direction over every step: the hidden state after each step (by position in the sequence) and the last one.</summary>
        private (string[] PerStep, (string H, string? C) Last) Direction(string x, int d, long steps, bool reverse)
        {
            var index = w.Int64Constant(d);
            var weights = w.Node("Transpose", [w.Node("Gather", [node.Input[1], index])], Ints("perm", 1, 0)); // [I, G·H]
            var recurrence = w.Node("Transpose", [w.Node("Gather", [node.Input[2], index])], Ints("perm", 1, 0)); // [H, G·H]
            var bias = Optional(3) is { } b ? w.Node("Gather", [b, index]) : null; // [2·G·H]: input biases, then recurrence biases
            var width = _gates * _hidden;
            var projected = w.Node("MatMul", [x, weights]); // [T, B, G·H]
            if (bias is not null) projected = w.Node("Add", [projected, SliceLast(bias, 0, width)]);
            var recurrenceBias = bias is null ? null : SliceLast(bias, width, 2 * width);
            var peepholes = node.OpType == "LSTM" && Optional(7) is { } p ? w.Node("Gather", [p, index]) : null; // [3·H]: i, o, f

            var h = Initial(5, d, projected);
            var c = node.OpType == "LSTM" ? Initial(6, d, projected) : null;
            var perStep = new string[steps];
            for (var k = 0; k < steps; k++)
            {
                var t = reverse ? steps - 1 - k : k;
                var input = w.Node("Gather", [projected, w.Int64Constant(t)]); // [B, G·H]
                (h, c) = node.OpType switch
                {
                    "RNN" => (w.Node("Tanh", [Recur(input, h, recurrence, recurrenceBias)]), null),
                    "GRU" => (GruStep(input, h, recurrence, recurrenceBias), null),
                    _ => LstmStep(Recur(input, h, recurrence, recurrenceBias), c!, peepholes),
                };
                perStep[t] = h;
            }

            return (perStep, (h, c));
        }

        private string Recur(string input, string h, string recurrence, string? bias)
        {
            var sum = w.Node("Add", [input, w.Node("MatMul", [h, recurrence])]);
            return bias is null ? sum : w.Node("Add", [sum, bias]);
        }

        /// <summary>z, r, h̃ (ONNX order); h̃ applies r after (linear_before_reset) or before the recurrence matrix; H' = h̃ + z ⊙ (H − h̃).</summary>
        private string GruStep(string input, string h, string recurrence, string? bias)
        {
            var H = _hidden;
            var gates = w.Node("Add", [SliceLast(input, 0, 2 * H), w.Node("MatMul", [h, SliceLast(recurrence, 0, 2 * H)])]);
            if (bias is not null) gates = w.Node("Add", [gates, SliceLast(bias, 0, 2 * H)]);
            var z = w.Node("Sigmoid", [SliceLast(gates, 0, H)]);
            var r = w.Node("Sigmoid", [SliceLast(gates, H, 2 * H)]);
            var candidateWeights = SliceLast(recurrence, 2 * H, 3 * H);
            var candidateBias = bias is null ? null : SliceLast(bias, 2 * H, 3 * H);
            string recurrent;
            if (_resetAfter)
            {
                recurrent = w.Node("MatMul", [h, candidateWeights]);
                if (candidateBias is not null) recurrent = w.Node("Add", [recurrent, candidateBias]);
                recurrent = w.Node("Mul", [r, recurrent]);
            }
            else
            {
                recurrent = w.Node("MatMul", [w.Node("Mul", [r, h]), candidateWeights]);
                if (candidateBias is not null) recurrent = w.Node("Add", [recurrent, candidateBias]);
            }

            var candidate = w.Node("Tanh", [w.Node("Add", [SliceLast(input, 2 * H, 3 * H), recurrent])]);
            return w.Node("Add", [candidate, w.Node("Mul", [z, w.Node("Sub", [h, candidate])])]);
        }

        /// <summary>i, o, f, c (ONNX order), optional peepholes: C' = f ⊙ C + i ⊙ c̃, H' = o ⊙ tanh(C').</summary>
        private (string H, string C) LstmStep(string gates, string c, string? peepholes)
        {
            var H = _hidden;
            string Gate(int at, int peephole, string state)
            {
                var value = SliceLast(gates, at * H, (at + 1) * H);
                if (peepholes is not null) value = w.Node("Add", [value, w.Node("Mul", [SliceLast(peepholes, peephole * H, (peephole + 1) * H), state])]);
                return w.Node("Sigmoid", [value]);
            }

            var i = Gate(0, 0, c);
            var f = Gate(2, 2, c);
            var cell = w.Node("Tanh", [SliceLast(gates, 3 * H, 4 * H)]);
            var next = w.Node("Add", [w.Node("Mul", [f, c]), w.Node("Mul", [i, cell])]);
            var o = Gate(1, 1, next);
            return (w.Node("Mul", [o, w.Node("Tanh", [next])]), next);
        }

        /// <summary>The initial state of direction <paramref name="d"/> from input <paramref name="input"/>, or zeros shaped [B, H].</summary>
        private string Initial(int input, int d, string projected)
        {
            if (Optional(input) is { } state) return w.Node("Gather", [state, w.Int64Constant(d)]);
            return w.Node("Mul", [w.Node("Gather", [SliceLast(projected, 0, _hidden), w.Int64Constant(0)]), w.Scalar(0)]);
        }

        private string State(IEnumerable<string> perDirection)
        {
            return Concat([.. perDirection.Select(s => Unsqueeze(s, 0))], 0); // [dirs, B, H]
        }

        private string SliceLast(string value, long start, long end) =>
            w.Node("Slice", [value, w.Int64s(start), w.Int64s(end), w.Int64s(-1)]);

        private string Unsqueeze(string value, params long[] axes) => w.Node("Unsqueeze", [value, w.Int64s(axes)]);

        private string Concat(string[] parts, long axis) => parts.Length == 1 ? parts[0] : w.Node("Concat", parts, Int("axis", axis));

        private string? Optional(int index) => node.Input.Count > index && node.Input[index].Length > 0 ? node.Input[index] : null;

        private bool Wanted(int output) => node.Output.Count > output && node.Output[output].Length > 0;

        private void Emit(int output, string value) => w.NodeTo(node.Output[output], "Identity", [value]);

        private NotDifferentiableException Refuse(string why) => NotDifferentiableException.ForNode(node, why);
    }
}
