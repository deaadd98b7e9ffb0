using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// Gradients of ops that pick elements by index — TopK's values, GatherElements (torch.gather), and Slice with steps
/// other than 1 (x[::2], torch.flip): dY scattered back to where each element came from, zeros elsewhere.
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
    /// Slice with any steps (negative ones too) and bounds constant or not: the same Slice applied to every element's
    /// flat position tells where each output element came from; dY is scattered there (each position at most once).
    /// </summary>
    public static string StridedSlice(GradientContext c)
    {
        var w = c.W;
        var shape = w.Shape(c.X);
        var size = w.Node("Size", [c.X]);
        var positions = w.Node("Reshape", [w.Node("Range", [w.Int64Constant(0), size, w.Int64Constant(1)]), shape]);
        var picked = w.Node("Slice", [positions, .. c.Node.Input.Skip(1)]);
        var flat = w.Node("ConstantOfShape", [w.Node("Reshape", [size, w.Int64s(1)])], w.Fill(0));
        var scattered = w.Node("ScatterElements", [flat, w.Node("Reshape", [picked, w.Int64s(-1)]), w.Node("Reshape", [c.Dy, w.Int64s(-1)])], Int("axis", 0));
        return w.Node("Reshape", [scattered, shape]);
    }

    private static string Zeros(GraphWriter w, string like) => w.Node("ConstantOfShape", [w.Shape(like)], w.Fill(0));
}
