using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// Gradients of the ops that rearrange or repeat elements: DepthToSpace (nn.PixelShuffle, super-resolution and
/// segmentation heads), SpaceToDepth, and Tile (x.repeat).
/// </summary>
internal static class LayoutGradients
{
    /// <summary>
    /// DepthToSpace is a permutation; its gradient the inverse one: SpaceToDepth for DCR mode, and for CRD mode
    /// SpaceToDepth followed by moving the block offsets behind the channels.
    /// </summary>
    public static void DepthToSpace(GradientContext c)
    {
        var block = c.Int("blocksize", 0);
        if (block < 1) throw c.Refuse("DepthToSpace without a blocksize");
        var mode = GraphFacts.AttributeString(c.Node, "mode") ?? "DCR";
        if (mode is not ("DCR" or "CRD")) throw c.Refuse($"DepthToSpace mode '{mode}' is neither DCR nor CRD");
        c.Give(0, () =>
        {
            var w = c.W;
            var gathered = w.Node("SpaceToDepth", [c.Dy], Int("blocksize", block)); // channels ordered (row offset, column offset, channel)
            if (mode == "DCR") return gathered;
            var shape = w.Shape(c.X);
            var split = w.Node("Concat", [w.Node("Gather", [shape, w.Int64s(0)], Int("axis", 0)), w.Int64s(block * block, -1), w.Node("Gather", [shape, w.Int64s(2, 3)], Int("axis", 0))], Int("axis", 0));
            var channelsFirst = w.Node("Transpose", [w.Node("Reshape", [gathered, split])], Ints("perm", 0, 2, 1, 3, 4));
            return w.Node("Reshape", [channelsFirst, shape]);
        });
    }

    /// <summary>SpaceToDepth: the inverse permutation, DepthToSpace in DCR mode.</summary>
    public static void SpaceToDepth(GradientContext c)
    {
        var block = c.Int("blocksize", 0);
        if (block < 1) throw c.Refuse("SpaceToDepth without a blocksize");
        c.Give(0, () => c.W.Node("DepthToSpace", [c.Dy], Int("blocksize", block), Str("mode", "DCR")));
    }

    /// <summary>Tile: dY with each axis split into (repeat, extent) and the repeats summed — repeats constant or computed at run time.</summary>
    public static void Tile(GradientContext c)
    {
        var rank = c.Facts.Rank(c.X) ?? (c.Facts.Dims(c.Input(1)) is [long count and >= 0] ? (int)count : c.RankOf(c.X, "Tile input")); // as many repeats as axes
        c.Give(0, () =>
        {
            var w = c.W;
            var shape = w.Shape(c.X);
            var split = Enumerable.Range(0, rank).SelectMany(a => new[]
            {
                w.Node("Gather", [c.Input(1), w.Int64s(a)], Int("axis", 0)),
                w.Node("Gather", [shape, w.Int64s(a)], Int("axis", 0)),
            });
            var blocks = w.Node("Reshape", [c.Dy, w.Node("Concat", [.. split], Int("axis", 0))]);
            return w.Node("ReduceSum", [blocks, w.Int64s([.. Enumerable.Range(0, rank).Select(a => 2L * a)])], Int("keepdims", 0));
        });
    }
}
