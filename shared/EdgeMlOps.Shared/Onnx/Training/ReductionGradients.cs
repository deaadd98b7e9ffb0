using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// Gradients of the norms and smooth reductions embedding and metric-learning models use (F.normalize writes ReduceL2;
/// logsumexp, sums of squares, L1 norms, products), of LpNormalization, and of running sums (CumSum).
/// </summary>
internal static class ReductionGradients
{
    /// <summary>ReduceSumSquare Σx²: 2x·dy.</summary>
    public static void SumSquare(GradientContext c) => Give(c, (dy, _) => c.W.Node("Mul", [c.W.Node("Mul", [c.X, c.W.Scalar(2)]), dy]));

    /// <summary>ReduceL1 Σ|x|: sign(x)·dy.</summary>
    public static void L1(GradientContext c) => Give(c, (dy, _) => c.W.Node("Mul", [c.W.Node("Sign", [c.X]), dy]));

    /// <summary>ReduceL2 √Σx²: x/y·dy, and 0 where the norm is 0 (as PyTorch's norm backward masks it).</summary>
    public static void L2(GradientContext c) => Give(c, (dy, y) =>
    {
        var zero = c.W.Node("Equal", [y, c.W.Scalar(0)]);
        return c.W.Node("Where", [zero, c.W.Scalar(0), c.W.Node("Mul", [c.W.Node("Div", [c.X, y]), dy])]);
    });

    /// <summary>ReduceLogSum log Σx: dy/Σx, that is e^(−y)·dy.</summary>
    public static void LogSum(GradientContext c) => Give(c, (dy, y) => c.W.Node("Mul", [c.W.Node("Exp", [c.W.Node("Neg", [y])]), dy]));

    /// <summary>ReduceLogSumExp log Σeˣ: e^(x − y)·dy (the softmax of x).</summary>
    public static void LogSumExp(GradientContext c) => Give(c, (dy, y) => c.W.Node("Mul", [c.W.Node("Exp", [c.W.Node("Sub", [c.X, y])]), dy]));

    /// <summary>
    /// ReduceProd: dx_i = dy·Π_{j≠i} x_j. That is y/x_i where x_i ≠ 0 (0 when another element of the group is 0, as y
    /// is), and for a zero the product of the group's non-zero elements when it is the group's only zero, else 0 — never
    /// a division by the zero. Both counts reduce over the forward node's own axes (inputs and attributes copied).
    /// </summary>
    public static void Prod(GradientContext c) => Give(c, (dy, y, restore) =>
    {
        var w = c.W;
        var zero = w.Node("Equal", [c.X, w.Scalar(0)]);
        var safe = w.Node("Where", [zero, w.Scalar(1), c.X]);
        string Reduce(string op, string value) => restore(w.Node(op, [value, .. c.Node.Input.Skip(1)], [.. c.Node.Attribute]));
        var nonZeroProduct = Reduce("ReduceProd", safe);
        var zeros = Reduce("ReduceL1", w.Node("Cast", [zero], w.CastToElement())); // the same axes convention as ReduceProd at every opset
        var ofTheZero = w.Node("Where", [w.Node("Equal", [zeros, w.Scalar(1)]), nonZeroProduct, w.Scalar(0)]);
        return w.Node("Mul", [dy, w.Node("Where", [zero, ofTheZero, w.Node("Div", [y, safe])])]);
    });

    /// <summary>
    /// LpNormalization y = x/‖x‖ along one axis: (dy − g·Σ(dy·y))/‖x‖ with g = y for p = 2 and sign(x) for p = 1.
    /// </summary>
    public static void LpNormalization(GradientContext c)
    {
        var p = c.Int("p", 2);
        if (p is not (1 or 2)) throw c.Refuse($"LpNormalization with p = {p}; ONNX allows 1 or 2");
        var axis = c.W.Int64s(c.Int("axis", -1));
        c.Give(0, () =>
        {
            var norm = p == 2
                ? c.W.Node("Sqrt", [c.W.Node("ReduceSum", [c.W.Node("Mul", [c.X, c.X]), axis], Int("keepdims", 1))])
                : c.W.Node("ReduceSum", [c.W.Node("Abs", [c.X]), axis], Int("keepdims", 1)); // ReduceSum takes its axes as an input at every opset a step has
            var along = c.W.Node("ReduceSum", [c.W.Node("Mul", [c.Dy, c.Y]), axis], Int("keepdims", 1));
            var direction = p == 2 ? c.Y : c.W.Node("Sign", [c.X]);
            return c.W.Node("Div", [c.W.Node("Sub", [c.Dy, c.W.Node("Mul", [direction, along])]), norm]);
        });
    }

    /// <summary>CumSum: the running sum of dY taken the other way along the axis (same <c>exclusive</c>).</summary>
    public static void CumSum(GradientContext c)
    {
        var reverse = c.Int("reverse", 0) != 0;
        c.Give(0, () => c.W.Node("CumSum", [c.Dy, c.Input(1)], Int("exclusive", c.Int("exclusive", 0)), Int("reverse", reverse ? 0 : 1)));
    }

    /// <summary>
    /// Gives input 0 the gradient <paramref name="make"/> builds from dY and Y brought back to the input's rank (the
    /// reduced axes restored with extent 1, so both broadcast against x).
    /// </summary>
    private static void Give(GradientContext c, Func<string, string, string> make) => Give(c, (dy, y, _) => make(dy, y));

    /// <summary>As above, <paramref name="make"/> also given the function that restores a reduced value to the input's rank.</summary>
    private static void Give(GradientContext c, Func<string, string, Func<string, string>, string> make)
    {
        var keep = c.Int("keepdims", 1) == 1;
        var axesGiven = c.Node.Attribute.Any(a => a.Name == "axes") || (c.Node.Input.Count > 1 && c.Node.Input[1].Length > 0);
        var axes = c.Facts.Axes(c.Node, 1);
        if (axesGiven && axes is null) throw c.Refuse("the reduced axes are not constant");
        if ((axes is null || axes.Length == 0) && c.Int("noop_with_empty_axes", 0) != 0) throw c.Refuse("noop_with_empty_axes with no axes has no gradient rule");
        c.Give(0, () =>
        {
            string Restore(string value) => keep || axes is null || axes.Length == 0 ? value : c.W.Node("Unsqueeze", [value, c.W.Int64s(axes)]);
            return make(Restore(c.Dy), Restore(c.Y), Restore);
        });
    }
}
