using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// LRN (AlexNet's and GoogLeNet's local response normalization): y = x·s^−β with s = bias + α/size·Σ x² over a window
/// of channels. dx_j = dy_j·s_j^−β − (2αβ/size)·x_j·Σ_c dy_c·x_c·s_c^(−β−1) over the channels c whose window holds j —
/// the same window reflected. Channel-window sums are a padded running sum (CumSum) and one difference.
/// </summary>
internal static class LocalResponseGradient
{
    public static void Lrn(GradientContext c)
    {
        var size = c.Int("size", 0);
        if (size < 1) throw c.Refuse("LRN without a size");
        var (alpha, beta, bias) = ((double)c.Float("alpha", 1e-4f), (double)c.Float("beta", 0.75f), (double)c.Float("bias", 1f));
        var rank = c.RankOf(c.X, "LRN input");
        var (before, after) = ((size - 1) / 2, size / 2); // floor and ceiling of (size − 1)/2
        c.Give(0, () =>
        {
            var w = c.W;
            var s = w.Node("Add", [w.Scalar(bias), w.Node("Mul", [w.Scalar(alpha / size), WindowSum(w, w.Node("Mul", [c.X, c.X]), before, after, rank)])]);
            var q = w.Node("Mul", [w.Node("Mul", [c.Dy, c.X]), w.Node("Pow", [s, w.Scalar(-beta - 1)])]);
            var spread = w.Node("Mul", [w.Scalar(2 * alpha * beta / size), w.Node("Mul", [c.X, WindowSum(w, q, after, before, rank)])]);
            return w.Node("Sub", [w.Node("Mul", [c.Dy, w.Node("Pow", [s, w.Scalar(-beta)])]), spread]);
        });
    }

    /// <summary>Σ of <paramref name="value"/> over channels c − <paramref name="before"/> … c + <paramref name="after"/> (axis 1, clipped to the tensor).</summary>
    private static string WindowSum(GraphWriter w, string value, long before, long after, int rank)
    {
        var pads = new long[2 * rank];
        (pads[1], pads[rank + 1]) = (before + 1, after);
        var running = w.Node("CumSum", [w.Node("Pad", [value, w.Int64s(pads)]), w.Int64Constant(1)]);
        var width = before + after + 1;
        var upper = w.Node("Slice", [running, w.Int64s(width), w.Int64s(long.MaxValue), w.Int64s(1)]);
        var lower = w.Node("Slice", [running, w.Int64s(0), w.Int64s(-width), w.Int64s(1)]);
        return w.Node("Sub", [upper, lower]);
    }
}
