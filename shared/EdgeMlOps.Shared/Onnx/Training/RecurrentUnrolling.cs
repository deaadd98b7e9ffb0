using EdgeMlOps.Shared.Onnx.Proto;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// For the train step only: rewrites each RNN, GRU and LSTM node that a trained parameter reaches into the time steps
/// it stands for — MatMul, Add, Split, Sigmoid, Tanh and Mul, which have gradient rules — so back-propagation
/// through time is ordinary reverse mode over the unrolled steps. The parameters stay the node's own W, R, B (and P)
/// tensors, read through Gather/Split, so updates name the uploaded model's initializers. The sequence length must be
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
    public static int Apply(GraphProto graph, GraphWriter writer, Func<NodeProto, bool> reached) =>
        NodeExpansion.Apply(graph, node => IsRecurrent(node.OpType) && node.Domain is ("" or "ai.onnx") && reached(node), (node, facts) => new Unroller(node, writer, facts).Write());

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
            var steps = (facts.Dims(x) is { } known ? ValueDims.Extent(known[0]) : null)
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

        /// <summary>
        /// One direction over every step: the hidden state after each step (by position in the sequence) and the last one.
        /// Per-direction slices of the weights are taken once, and each step's gates are split by one Split node, so
        /// the backward pass has one Concat per split instead of a padded copy per slice.
        /// </summary>
        private (string[] PerStep, (string H, string? C) Last) Direction(string x, int d, long steps, bool reverse)
        {
            var H = _hidden;
            var index = w.Int64Constant(d);
            var weights = w.Node("Transpose", [w.Node("Gather", [node.Input[1], index])], Ints("perm", 1, 0)); // [I, G·H]
            var recurrence = w.Node("Transpose", [w.Node("Gather", [node.Input[2], index])], Ints("perm", 1, 0)); // [H, G·H]
            var width = _gates * H;
            var biases = Optional(3) is { } b ? Split(w.Node("Gather", [b, index]), width, width) : null; // input biases, then recurrence biases
            var projected = w.Node("MatMul", [x, weights]); // [T, B, G·H]
            if (biases is not null) projected = w.Node("Add", [projected, biases[0]]);
            var inputs = steps == 1
                ? [w.Node("Squeeze", [projected, w.Int64s(0)])]
                : w.Nodes("Split", [projected, w.Int64s([.. Enumerable.Repeat(1L, (int)steps)])], (int)steps, Int("axis", 0)).Select(s => w.Node("Squeeze", [s, w.Int64s(0)])).ToArray();
            var gru = node.OpType == "GRU" ? Gru.Of(this, recurrence, biases?[1]) : null;
            var peepholes = node.OpType == "LSTM" && Optional(7) is { } p ? Split(w.Node("Gather", [p, index]), H, H, H) : null; // i, o, f
            var recurrenceBias = biases?[1];

            var h = Initial(5, d, inputs[0]);
            var c = node.OpType == "LSTM" ? Initial(6, d, inputs[0]) : null;
            var perStep = new string[steps];
            for (var k = 0; k < steps; k++)
            {
                var t = reverse ? steps - 1 - k : k;
                (h, c) = node.OpType switch
                {
                    "RNN" => (w.Node("Tanh", [Recur(inputs[t], h, recurrence, recurrenceBias)]), null),
                    "GRU" => (GruStep(inputs[t], h, gru!), null),
                    _ => LstmStep(Recur(inputs[t], h, recurrence, recurrenceBias), c!, peepholes),
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

        /// <summary>A GRU direction's recurrence weights and biases, split once into the z/r part and the candidate part.</summary>
        private sealed record Gru(string UpdateReset, string? UpdateResetBias, string Candidate, string? CandidateBias)
        {
            public static Gru Of(Unroller u, string recurrence, string? bias)
            {
                var weights = u.Split(recurrence, 2 * u._hidden, u._hidden);
                var biases = bias is null ? null : u.Split(bias, 2 * u._hidden, u._hidden);
                return new Gru(weights[0], biases?[0], weights[1], biases?[1]);
            }
        }

        /// <summary>z, r, h̃ (ONNX order); h̃ applies r after (linear_before_reset) or before the recurrence matrix; H' = h̃ + z ⊙ (H − h̃).</summary>
        private string GruStep(string input, string h, Gru g)
        {
            var H = _hidden;
            var parts = Split(input, 2 * H, H);
            var gates = w.Node("Add", [parts[0], w.Node("MatMul", [h, g.UpdateReset])]);
            if (g.UpdateResetBias is not null) gates = w.Node("Add", [gates, g.UpdateResetBias]);
            var zr = Split(w.Node("Sigmoid", [gates]), H, H);
            var (z, r) = (zr[0], zr[1]);
            string recurrent;
            if (_resetAfter)
            {
                recurrent = w.Node("MatMul", [h, g.Candidate]);
                if (g.CandidateBias is not null) recurrent = w.Node("Add", [recurrent, g.CandidateBias]);
                recurrent = w.Node("Mul", [r, recurrent]);
            }
            else
            {
                recurrent = w.Node("MatMul", [w.Node("Mul", [r, h]), g.Candidate]);
                if (g.CandidateBias is not null) recurrent = w.Node("Add", [recurrent, g.CandidateBias]);
            }

            var candidate = w.Node("Tanh", [w.Node("Add", [parts[1], recurrent])]);
            return w.Node("Add", [candidate, w.Node("Mul", [z, w.Node("Sub", [h, candidate])])]);
        }

        /// <summary>i, o, f, c (ONNX order), optional peepholes: C' = f ⊙ C + i ⊙ c̃, H' = o ⊙ tanh(C').</summary>
        private (string H, string C) LstmStep(string gates, string c, string[]? peepholes)
        {
            var H = _hidden;
            var parts = Split(gates, H, H, H, H);
            string Gate(int at, string state)
            {
                var value = parts[at];
                if (peepholes is not null) value = w.Node("Add", [value, w.Node("Mul", [peepholes[at], state])]);
                return w.Node("Sigmoid", [value]);
            }

            var i = Gate(0, c);
            var f = Gate(2, c);
            var cell = w.Node("Tanh", [parts[3]]);
            var next = w.Node("Add", [w.Node("Mul", [f, c]), w.Node("Mul", [i, cell])]);
            var o = Gate(1, next);
            return (w.Node("Mul", [o, w.Node("Tanh", [next])]), next);
        }

        /// <summary>The initial state of direction <paramref name="d"/> from input <paramref name="input"/>, or zeros shaped [B, H] (from the first step's input).</summary>
        private string Initial(int input, int d, string firstStep)
        {
            if (Optional(input) is { } state) return w.Node("Gather", [state, w.Int64Constant(d)]);
            return w.Node("Mul", [w.Node("Slice", [firstStep, w.Int64s(0), w.Int64s(_hidden), w.Int64s(-1)]), w.Scalar(0)]);
        }

        private string State(IEnumerable<string> perDirection)
        {
            return Concat([.. perDirection.Select(s => Unsqueeze(s, 0))], 0); // [dirs, B, H]
        }

        /// <summary>Splits the last axis into parts of the given sizes with one Split node.</summary>
        private string[] Split(string value, params long[] sizes) =>
            w.Nodes("Split", [value, w.Int64s(sizes)], sizes.Length, Int("axis", -1));

        private string Unsqueeze(string value, params long[] axes) => w.Node("Unsqueeze", [value, w.Int64s(axes)]);

        private string Concat(string[] parts, long axis) => parts.Length == 1 ? parts[0] : w.Node("Concat", parts, Int("axis", axis));

        private string? Optional(int index) => node.Input.Count > index && node.Input[index].Length > 0 ? node.Input[index] : null;

        private bool Wanted(int output) => node.Output.Count > output && node.Output[output].Length > 0;

        private void Emit(int output, string value) => w.NodeTo(node.Output[output], "Identity", [value]);

        private NotDifferentiableException Refuse(string why) => NotDifferentiableException.ForNode(node, why);
    }
}
