using EdgeMlOps.Shared.Onnx.Proto;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>Small graphs around one RNN, GRU or LSTM node, covering the attributes and optional inputs the unrolling reads.</summary>
internal static class RecurrentCases
{
    public delegate (string Output, long[] Dims) Build(TestGraph g);

    public static readonly Dictionary<string, Build> All = new()
    {
        ["GRU, linear_before_reset (as PyTorch exports), Y"] = g =>
            (g.Nodes("GRU", [g.Input("x", [4, 2, 3]), g.Param("w", [1, 15, 3]), g.Param("r", [1, 15, 5]), g.Param("b", [1, 30])], 2,
                Int("hidden_size", 5), Int("linear_before_reset", 1))[0], [4, 1, 2, 5]),
        ["GRU, reset before the recurrence, reverse, an initial state, Y_h"] = g =>
            (g.Nodes("GRU", [g.Input("x", [3, 2, 3]), g.Param("w", [1, 12, 3]), g.Param("r", [1, 12, 4]), g.Param("b", [1, 24]), "", g.Input("h0", [1, 2, 4])], 2,
                Int("hidden_size", 4), Str("direction", "reverse"))[1], [1, 2, 4]),
        ["GRU bidirectional, no bias, behind a Tanh, Y"] = g =>
            (g.Nodes("GRU", [g.Node("Tanh", [g.Input("x", [3, 2, 3])]), g.Param("w", [2, 9, 3]), g.Param("r", [2, 9, 3])], 1,
                Int("hidden_size", 3), Str("direction", "bidirectional"), Int("linear_before_reset", 1))[0], [3, 2, 2, 3]),
        ["LSTM (as PyTorch exports), Y"] = g =>
            (g.Nodes("LSTM", [g.Input("x", [4, 2, 3]), g.Param("w", [1, 16, 3]), g.Param("r", [1, 16, 4]), g.Param("b", [1, 32])], 3,
                Int("hidden_size", 4))[0], [4, 1, 2, 4]),
        ["LSTM bidirectional, peepholes, initial states, Y_c"] = g =>
            (g.Nodes("LSTM", [g.Input("x", [3, 2, 3]), g.Param("w", [2, 16, 3]), g.Param("r", [2, 16, 4]), g.Param("b", [2, 32]), "",
                g.Input("h0", [2, 2, 4]), g.Input("c0", [2, 2, 4]), g.Param("p", [2, 12])], 3,
                Int("hidden_size", 4), Str("direction", "bidirectional"))[2], [2, 2, 4]),
        ["RNN, Y_h"] = g =>
            (g.Nodes("RNN", [g.Input("x", [4, 2, 3]), g.Param("w", [1, 5, 3]), g.Param("r", [1, 5, 5]), g.Param("b", [1, 10])], 2,
                Int("hidden_size", 5))[1], [1, 2, 5]),
    };

    public static AttributeProto Str(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(value) };
}
