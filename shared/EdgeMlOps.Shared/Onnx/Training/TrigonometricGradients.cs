namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// Gradients of the trigonometric and hyperbolic functions and their inverses (positional encodings, angle features of
/// motion sensors, periodic activations), each dy times the derivative written with ONNX ops.
/// </summary>
internal static class TrigonometricGradients
{
    public static void Sin(GradientContext c) => c.Give(0, () => c.W.Node("Mul", [c.Dy, c.W.Node("Cos", [c.X])]));

    public static void Cos(GradientContext c) => c.Give(0, () => c.W.Node("Neg", [c.W.Node("Mul", [c.Dy, c.W.Node("Sin", [c.X])])]));

    /// <summary>Tan: dy·(1 + y²).</summary>
    public static void Tan(GradientContext c) => c.Give(0, () => c.W.Node("Mul", [c.Dy, c.W.Node("Add", [c.W.Scalar(1), c.W.Node("Mul", [c.Y, c.Y])])]));

    /// <summary>Sinh: dy·cosh x.</summary>
    public static void Sinh(GradientContext c) => c.Give(0, () => c.W.Node("Mul", [c.Dy, c.W.Node("Cosh", [c.X])]));

    /// <summary>Cosh: dy·sinh x.</summary>
    public static void Cosh(GradientContext c) => c.Give(0, () => c.W.Node("Mul", [c.Dy, c.W.Node("Sinh", [c.X])]));

    /// <summary>Asin: dy/√(1 − x²).</summary>
    public static void Asin(GradientContext c) => c.Give(0, () => c.W.Node("Div", [c.Dy, Root(c, OneMinusSquare(c))]));

    /// <summary>Acos: −dy/√(1 − x²).</summary>
    public static void Acos(GradientContext c) => c.Give(0, () => c.W.Node("Neg", [c.W.Node("Div", [c.Dy, Root(c, OneMinusSquare(c))])]));

    /// <summary>Atan: dy/(1 + x²).</summary>
    public static void Atan(GradientContext c) => c.Give(0, () => c.W.Node("Div", [c.Dy, c.W.Node("Add", [c.W.Scalar(1), Square(c)])]));

    /// <summary>Asinh: dy/√(x² + 1).</summary>
    public static void Asinh(GradientContext c) => c.Give(0, () => c.W.Node("Div", [c.Dy, Root(c, c.W.Node("Add", [Square(c), c.W.Scalar(1)]))]));

    /// <summary>Acosh: dy/√(x² − 1).</summary>
    public static void Acosh(GradientContext c) => c.Give(0, () => c.W.Node("Div", [c.Dy, Root(c, c.W.Node("Sub", [Square(c), c.W.Scalar(1)]))]));

    /// <summary>Atanh: dy/(1 − x²).</summary>
    public static void Atanh(GradientContext c) => c.Give(0, () => c.W.Node("Div", [c.Dy, OneMinusSquare(c)]));

    private static string Square(GradientContext c) => c.W.Node("Mul", [c.X, c.X]);

    private static string OneMinusSquare(GradientContext c) => c.W.Node("Sub", [c.W.Scalar(1), Square(c)]);

    private static string Root(GradientContext c, string value) => c.W.Node("Sqrt", [value]);
}
