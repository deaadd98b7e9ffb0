using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>Gradients of the Lp pools (y = (Σ|x|ᵖ)^(1/p) over a window or a whole channel) and of MaxUnpool.</summary>
internal static class PoolingGradients
{
    /// <summary>
    /// LpPool: dx = Σ over the windows covering x of dy·y^(1−p), times |x|^(p−1)·sign(x) — the per-window factor is
    /// spread back over its window as AveragePool's is (<see cref="PoolWindows"/>), then multiplied element-wise.
    /// A window whose norm is 0 passes no gradient (as PyTorch's norm backward masks it).
    /// </summary>
    public static void LpPool(GradientContext c)
    {
        var windows = PoolWindows.Of(c);
        var p = Power(c);
        c.Give(0, () =>
        {
            var run = windows.Start(c);
            return c.W.Node("Mul", [run.Spread(run.Fold(PerNorm(c, p))), Magnitude(c, p)]);
        });
    }

    /// <summary>GlobalLpPool: the same over each channel's positions, dy·y^(1−p) broadcast back over them.</summary>
    public static void GlobalLpPool(GradientContext c)
    {
        var p = Power(c);
        c.Give(0, () => c.W.Node("Mul", [PerNorm(c, p), Magnitude(c, p)]));
    }

    /// <summary>MaxUnpool puts x at flat positions of the output (MaxPool's Indices), so dx reads dY back from those positions.</summary>
    public static void MaxUnpool(GradientContext c) =>
        c.Give(0, () => c.W.Node("Gather", [c.W.Node("Reshape", [c.Dy, c.W.Int64s(-1)]), c.Input(1)], Int("axis", 0)));

    private static long Power(GradientContext c)
    {
        var p = c.Int("p", 2);
        return p >= 1 ? p : throw c.Refuse($"{c.Node.OpType} with p = {p}; a norm needs p ≥ 1");
    }

    /// <summary>dy·y^(1−p), 0 where the norm is 0.</summary>
    private static string PerNorm(GradientContext c, long p)
    {
        var w = c.W;
        if (p == 1) return c.Dy;
        var power = p == 2 ? c.Y : w.Node("Pow", [c.Y, w.Scalar(p - 1)]);
        return w.Node("Where", [w.Node("Equal", [c.Y, w.Scalar(0)]), w.Scalar(0), w.Node("Div", [c.Dy, power])]);
    }

    /// <summary>d|x|ᵖ/dx / p = |x|^(p−1)·sign(x).</summary>
    private static string Magnitude(GradientContext c, long p)
    {
        var w = c.W;
        return p switch
        {
            1 => w.Node("Sign", [c.X]),
            2 => c.X,
            _ => w.Node("Mul", [w.Node("Pow", [w.Node("Abs", [c.X]), w.Scalar(p - 1)]), w.Node("Sign", [c.X])]),
        };
    }
}
