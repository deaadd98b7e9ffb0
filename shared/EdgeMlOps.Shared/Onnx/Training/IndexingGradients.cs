using EdgeMlOps.Shared.Onnx.Proto;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// Gradients of ops that pick, copy or write elements by index — TopK's values, GatherElements (torch.gather), Slice
/// with steps other than 1 (x[::2], torch.flip), reflect/edge/wrap padding, Compress (boolean masks), ReverseSequence
/// and ScatterND/ScatterElements (index assignment): dY routed back to where each element came from.
/// </summary>
internal static class IndexingGradients
{
    /// <summary>TopK: dY of the values scattered to their indices along the axis (the indices are distinct); the indices output carries none.</summary>
    public static void TopK(GradientContext c)
    {
        if (c.OutputGrad(0) is null) return;
        var axis = c.Int("axis", -1);
        c.Give(0, () =>
        {
            var indices = c.Node.Output.Count > 1 && c.Node.Output[1].Length > 0
                ? c.Node.Output[1]
                : c.W.Nodes("TopK", [c.X, c.Input(1)], 2, [.. c.Node.Attribute])[1];
            return c.W.Node("ScatterElements", [Zeros(c.W, c.X), indices, c.Dy], Int("axis", axis));
        });
    }

    /// <summary>GatherElements: dY added back at the gathered positions (an index picked twice gets both).</summary>
    public static void GatherElements(GradientContext c)
    {
        if (c.Needs(1)) throw c.Refuse("the indices of GatherElements carry no gradient");
        c.Give(0, () => c.W.Node("ScatterElements", [Zeros(c.W, c.X), c.Input(1), c.Dy], Int("axis", c.Int("axis", 0)), Str("reduction", "add")));
    }

    /// <summary>
    /// GatherND (<c>tf.gather_nd</c>): dY added back at the gathered elements or slices (ScatterND adding; one picked
    /// twice gets both). With batch_dims b, ScatterND having none, each index is prefixed with its batch coordinates.
    /// </summary>
    public static void GatherND(GradientContext c)
    {
        var batchDims = c.Int("batch_dims", 0);
        c.Give(0, () => c.W.Node("ScatterND", [Zeros(c.W, c.X), batchDims == 0 ? c.Input(1) : WithBatchCoordinates(c.W, c.Input(1), batchDims), c.Dy], Str("reduction", "add")));
    }

    /// <summary>Indices [b₀, …, b_{n−1}, …, k] of a GatherND with n batch axes as indices of one without: each prefixed with its position on the batch axes.</summary>
    private static string WithBatchCoordinates(GraphWriter w, string indices, long batchDims)
    {
        var shape = w.Shape(indices);
        var positions = w.Node("Slice", [shape, w.Int64s(0), w.Int64s(-1)]); // every axis but the last: one index each
        var rank = w.Node("Size", [positions]);
        var coordinates = new List<string>();
        for (var axis = 0L; axis < batchDims; axis++)
        {
            var extent = w.Node("Gather", [shape, w.Int64Constant(axis)], Int("axis", 0));
            var along = w.Node("Range", [w.Int64Constant(0), extent, w.Int64Constant(1)]);
            // shaped 1 everywhere but this axis, then expanded to every index's position
            var ones = w.Node("ConstantOfShape", [w.Node("Reshape", [rank, w.Int64s(1)])], Tensor("value", new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 1 }, Int64Data = { 1 } }));
            var single = w.Node("ScatterElements", [ones, w.Int64s(axis), w.Node("Reshape", [extent, w.Int64s(1)])], Int("axis", 0));
            coordinates.Add(w.Node("Unsqueeze", [w.Node("Expand", [w.Node("Reshape", [along, single]), positions]), w.Int64s(-1)]));
        }

        return w.Node("Concat", [.. coordinates, indices], Int("axis", -1));
    }

    /// <summary>
    /// Slice with any steps (negative ones too) and bounds constant or not: the same Slice applied to every element's
    /// flat position tells where each output element came from; dY is scattered there (each position at most once).
    /// </summary>
    public static string StridedSlice(GradientContext c) =>
        ScatterToSources(c, positions => c.W.Node("Slice", [positions, .. c.Node.Input.Skip(1)]), accumulate: false);

    /// <summary>
    /// Pad in reflect, edge or wrap mode (ReflectionPad2d, ReplicationPad): every output element is a copy of an input
    /// element — the same Pad of the elements' positions says which — so dY is added back to its sources.
    /// </summary>
    public static string CopiedPad(GradientContext c)
    {
        var pads = c.Ints("pads") is { } attribute ? c.W.Int64s(attribute) : c.Input(1);
        var axes = c.Node.Input.Count > 3 && c.Node.Input[3].Length > 0 ? new[] { c.Input(3) } : [];
        return ScatterToSources(c, positions => c.W.Node("Pad", [positions, pads, "", .. axes], Str("mode", GraphFacts.AttributeString(c.Node, "mode")!)), accumulate: true);
    }

    /// <summary>Compress (boolean-mask selection, <c>x[:, mask]</c> or of the flattened tensor): dY scattered back to the kept positions, found by compressing the elements' positions the same way.</summary>
    public static void Compress(GradientContext c) =>
        c.Give(0, () => ScatterToSources(c, positions => c.W.Node("Compress", [positions, c.Input(1)], [.. c.Node.Attribute]), accumulate: false));

    /// <summary>ReverseSequence (each sequence's first lengths reversed, as TensorFlow converters write bidirectional RNNs): a permutation that is its own inverse, so dX is dY reversed the same way.</summary>
    public static void ReverseSequence(GradientContext c) =>
        c.Give(0, () => c.W.Node("ReverseSequence", [c.Dy, c.Input(1)], [.. c.Node.Attribute]));

    /// <summary>ScatterND / ScatterElements (index assignment, reduction none or add): data keeps dY where nothing was written, updates get dY where they were written.</summary>
    public static void Scatter(GradientContext c)
    {
        var reduction = GraphFacts.AttributeString(c.Node, "reduction") ?? "none";
        if (reduction is not ("none" or "add")) throw c.Refuse($"{c.Node.OpType} with reduction '{reduction}' has no gradient rule");
        if (c.Needs(1)) throw c.Refuse($"the indices of {c.Node.OpType} carry no gradient");
        var elements = c.Node.OpType == "ScatterElements";
        AttributeProto[] axis = elements ? [Int("axis", c.Int("axis", 0))] : [];
        c.Give(0, () => reduction == "add" ? c.Dy : c.W.Node(c.Node.OpType, [c.Dy, c.Input(1), Zeros(c.W, c.Input(2))], axis));
        c.Give(2, () => c.W.Node(elements ? "GatherElements" : "GatherND", [c.Dy, c.Input(1)], axis));
    }

    /// <summary>
    /// The gradient of an op that moves or copies elements: <paramref name="pick"/> applied to a tensor holding each
    /// input element's flat position gives each output element's source; dY is scattered (or added) there.
    /// </summary>
    private static string ScatterToSources(GradientContext c, Func<string, string> pick, bool accumulate)
    {
        var w = c.W;
        var shape = w.Shape(c.X);
        var size = w.Node("Size", [c.X]);
        var sources = pick(w.Node("Reshape", [w.Node("Range", [w.Int64Constant(0), size, w.Int64Constant(1)]), shape]));
        var flat = w.Node("ConstantOfShape", [w.Node("Reshape", [size, w.Int64s(1)])], w.Fill(0));
        AttributeProto[] attributes = accumulate ? [Int("axis", 0), Str("reduction", "add")] : [Int("axis", 0)];
        var scattered = w.Node("ScatterElements", [flat, w.Node("Reshape", [sources, w.Int64s(-1)]), w.Node("Reshape", [c.Dy, w.Int64s(-1)])], attributes);
        return w.Node("Reshape", [scattered, shape]);
    }

    private static string Zeros(GraphWriter w, string like) => w.Node("ConstantOfShape", [w.Shape(like)], w.Fill(0));
}
