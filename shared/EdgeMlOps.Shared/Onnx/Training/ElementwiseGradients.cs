using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>Gradients of broadcasting arithmetic and of element-wise activations.</summary>
internal static class ElementwiseGradients
{
    public static void Add(GradientContext c)
    {
        c.Give(0, () => SumTo(c, c.Dy, 0));
        c.Give(1, () => SumTo(c, c.Dy, 1));
    }

    public static void Sub(GradientContext c)
    {
        c.Give(0, () => SumTo(c, c.Dy, 0));
        c.Give(1, () => SumTo(c, c.W.Node("Neg", [c.Dy]), 1));
    }

    public static void Mul(GradientContext c)
    {
        c.Give(0, () => SumTo(c, c.W.Node("Mul", [c.Dy, c.Input(1)]), 0));
        c.Give(1, () => SumTo(c, c.W.Node("Mul", [c.Dy, c.Input(0)]), 1));
    }

    /// <summary>
    /// Mod with fmod = 1 (torch.fmod; floats must use it) a − trunc(a/b)·b: dy to a, and −dy·trunc(a/b) to b, the
    /// quotient read back as (a − y)/b. Integer Mod carries no gradient (its operands are not trained tensors).
    /// </summary>
    public static void Mod(GradientContext c)
    {
        c.Give(0, () => SumTo(c, c.Dy, 0));
        c.Give(1, () => SumTo(c, c.W.Node("Neg", [c.W.Node("Mul", [c.Dy, c.W.Node("Div", [c.W.Node("Sub", [c.Input(0), c.Y]), c.Input(1)])])]), 1));
    }

    public static void Div(GradientContext c)
    {
        c.Give(0, () => SumTo(c, c.W.Node("Div", [c.Dy, c.Input(1)]), 0));
        // d(a/b)/db = -y/b
        c.Give(1, () => SumTo(c, c.W.Node("Neg", [c.W.Node("Div", [c.W.Node("Mul", [c.Dy, c.Y]), c.Input(1)])]), 1));
    }

    /// <summary>Pow with a constant exponent e: e·x^(e−1). A trained exponent is refused.</summary>
    public static void Pow(GradientContext c)
    {
        if (c.Needs(1)) throw c.Refuse("the exponent of Pow cannot be trained");
        var exponent = c.Input(1);
        var power = c.W.Node("Pow", [c.X, c.W.Node("Sub", [exponent, c.W.Scalar(1)])]);
        c.Give(0, () => SumTo(c, c.W.Node("Mul", [c.Dy, c.W.Node("Mul", [exponent, power])]), 0));
    }

    /// <summary>Sum of any number of broadcast operands: dY summed to each one's shape.</summary>
    public static void Sum(GradientContext c)
    {
        for (var i = 0; i < c.Node.Input.Count; i++)
        {
            var index = i;
            c.Give(index, () => SumTo(c, c.Dy, index));
        }
    }

    /// <summary>Mean of any number of broadcast operands: dY/n summed to each one's shape.</summary>
    public static void Mean(GradientContext c)
    {
        var share = new Lazy<string>(() => c.W.Node("Div", [c.Dy, c.W.Scalar(c.Node.Input.Count)]));
        for (var i = 0; i < c.Node.Input.Count; i++)
        {
            var index = i;
            c.Give(index, () => SumTo(c, share.Value, index));
        }
    }

    /// <summary>Max/Min of one or two broadcast operands: dY goes to the operand that won (to the first on a tie).</summary>
    public static void Extreme(GradientContext c)
    {
        if (c.Node.Input.Count == 1)
        {
            c.Give(0, c.Dy);
            return;
        }

        if (c.Node.Input.Count > 2) throw c.Refuse($"{c.Node.OpType} of more than two operands has no gradient rule; nest two-operand nodes");
        var first = new Lazy<string>(() => c.W.Node(c.Node.OpType == "Max" ? "GreaterOrEqual" : "LessOrEqual", [c.Input(0), c.Input(1)]));
        c.Give(0, () => SumTo(c, c.W.Node("Where", [first.Value, c.Dy, c.W.Scalar(0)]), 0));
        c.Give(1, () => SumTo(c, c.W.Node("Where", [first.Value, c.W.Scalar(0), c.Dy]), 1));
    }

    /// <summary>Where(condition, X, Y): dY where the condition holds goes to X, the rest to Y, each summed to its shape.</summary>
    public static void Where(GradientContext c)
    {
        c.Give(1, () => SumTo(c, c.W.Node("Where", [c.Input(0), c.Dy, c.W.Scalar(0)]), 1));
        c.Give(2, () => SumTo(c, c.W.Node("Where", [c.Input(0), c.W.Scalar(0), c.Dy]), 2));
    }

    /// <summary>Cast to a floating-point type passes dY on (in the model's type); a cast to integers or bool is a step function, with no gradient.</summary>
    public static void Cast(GradientContext c)
    {
        var to = (Proto.TensorProto.Types.DataType)c.Int("to", 0);
        if (to is Proto.TensorProto.Types.DataType.Float or Proto.TensorProto.Types.DataType.Double or Proto.TensorProto.Types.DataType.Float16)
            c.Give(0, () => c.W.Node("Cast", [c.Dy], c.W.CastToElement()));
    }

    /// <summary>CastLike to a floating-point type (its second input's) passes dY on cast back to the first input's type; the second input only lends its type.</summary>
    public static void CastLike(GradientContext c) => c.Give(0, () => c.W.Node("CastLike", [c.Dy, c.Input(0)]));

    public static void Neg(GradientContext c) => c.Give(0, () => c.W.Node("Neg", [c.Dy]));

    public static void PassThrough(GradientContext c) => c.Give(0, c.Dy);

    /// <summary>Dropout at inference is the identity on output 0; its mask output carries no gradient.</summary>
    public static void Dropout(GradientContext c)
    {
        if (c.Node.Input.Count > 2 && c.Node.Input[2].Length > 0 && c.Facts.Initializer(c.Node.Input[2]) is null)
            throw c.Refuse("a Dropout with a run-time training_mode input is not supported; export the model in eval mode");
        c.Give(0, c.Dy);
    }

    public static void Exp(GradientContext c) => c.Give(0, () => c.W.Node("Mul", [c.Dy, c.Y]));

    public static void Log(GradientContext c) => c.Give(0, () => c.W.Node("Div", [c.Dy, c.X]));

    public static void Sqrt(GradientContext c) =>
        c.Give(0, () => c.W.Node("Div", [c.Dy, c.W.Node("Mul", [c.W.Scalar(2), c.Y])]));

    public static void Relu(GradientContext c) =>
        c.Give(0, () => c.W.Node("Where", [c.W.Node("Greater", [c.X, c.W.Scalar(0)]), c.Dy, c.W.Scalar(0)]));

    public static void LeakyRelu(GradientContext c)
    {
        var alpha = c.Float("alpha", 0.01f);
        c.Give(0, () => c.W.Node("Where", [c.W.Node("Greater", [c.X, c.W.Scalar(0)]), c.Dy, c.W.Node("Mul", [c.Dy, c.W.Scalar(alpha)])]));
    }

    public static void Sigmoid(GradientContext c) =>
        c.Give(0, () => c.W.Node("Mul", [c.Dy, c.W.Node("Mul", [c.Y, c.W.Node("Sub", [c.W.Scalar(1), c.Y])])]));

    public static void Tanh(GradientContext c) =>
        c.Give(0, () => c.W.Node("Mul", [c.Dy, c.W.Node("Sub", [c.W.Scalar(1), c.W.Node("Mul", [c.Y, c.Y])])]));

    /// <summary>erf'(x) = 2/√π · e^(−x²).</summary>
    public static void Erf(GradientContext c) =>
        c.Give(0, () => c.W.Node("Mul", [c.Dy, c.W.Node("Mul", [c.W.Scalar(2 / Math.Sqrt(Math.PI)), c.W.Node("Exp", [c.W.Node("Neg", [c.W.Node("Mul", [c.X, c.X])])])])]));

    /// <summary>Exact GELU x·Φ(x): Φ(x) + x·φ(x). The tanh approximation is refused rather than differentiated as the exact one.</summary>
    public static void Gelu(GradientContext c)
    {
        if (GraphFacts.AttributeString(c.Node, "approximate") is { } mode && mode != "none") throw c.Refuse($"Gelu approximate='{mode}' has no gradient rule; export with the exact GELU");
        c.Give(0, () =>
        {
            var cdf = c.W.Node("Mul", [c.W.Scalar(0.5), c.W.Node("Add", [c.W.Scalar(1), c.W.Node("Erf", [c.W.Node("Mul", [c.X, c.W.Scalar(1 / Math.Sqrt(2))])])])]);
            var pdf = c.W.Node("Mul", [c.W.Scalar(1 / Math.Sqrt(2 * Math.PI)), c.W.Node("Exp", [c.W.Node("Mul", [c.W.Scalar(-0.5), c.W.Node("Mul", [c.X, c.X])])])]);
            return c.W.Node("Mul", [c.Dy, c.W.Node("Add", [cdf, c.W.Node("Mul", [c.X, pdf])])]);
        });
    }

    /// <summary>Clip passes the gradient where the input lies inside [min, max]; the bounds are not trained.</summary>
    public static void Clip(GradientContext c)
    {
        if (c.Needs(1) || c.Needs(2)) throw c.Refuse("the bounds of Clip cannot be trained");
        c.Give(0, () =>
        {
            var inside = c.Node.Input.Count > 1 && c.Node.Input[1].Length > 0 ? c.W.Node("GreaterOrEqual", [c.X, c.Input(1)]) : null;
            if (c.Node.Input.Count > 2 && c.Node.Input[2].Length > 0)
            {
                var below = c.W.Node("LessOrEqual", [c.X, c.Input(2)]);
                inside = inside is null ? below : c.W.Node("And", [inside, below]);
            }

            return inside is null ? c.Dy : c.W.Node("Where", [inside, c.Dy, c.W.Scalar(0)]);
        });
    }

    /// <summary>Softmax along one axis (opset 13+): y ⊙ (dy − Σ(dy ⊙ y)).</summary>
    public static void Softmax(GradientContext c)
    {
        var axis = c.W.Int64s(c.Int("axis", -1));
        c.Give(0, () =>
        {
            var dot = c.W.Node("ReduceSum", [c.W.Node("Mul", [c.Dy, c.Y]), axis], Int("keepdims", 1));
            return c.W.Node("Mul", [c.Y, c.W.Node("Sub", [c.Dy, dot])]);
        });
    }

    /// <summary>LogSoftmax along one axis: dy − e^y · Σ dy.</summary>
    public static void LogSoftmax(GradientContext c)
    {
        var axis = c.W.Int64s(c.Int("axis", -1));
        c.Give(0, () =>
        {
            var total = c.W.Node("ReduceSum", [c.Dy, axis], Int("keepdims", 1));
            return c.W.Node("Sub", [c.Dy, c.W.Node("Mul", [c.W.Node("Exp", [c.Y]), total])]);
        });
    }

    /// <summary>
    /// The gradient of a broadcast operand, shaped like the output: summed back to input <paramref name="index"/>'s shape.
    /// When the input's axes are known well enough (<see cref="BroadcastAxes"/>) that is one ReduceSum over fixed axes —
    /// or nothing, the common case of operands of one shape — otherwise the axes are found at run time.
    /// </summary>
    public static string SumTo(GradientContext c, string grad, int index)
    {
        var input = c.Input(index);
        if (BroadcastAxes(c.Facts.Dims(input), c.Facts.Dims(c.Y)) is { } axes)
        {
            if (axes.Lead == 0 && axes.Summed.Length == 0) return grad;
            var summed = c.W.Node("ReduceSum", [grad, c.W.Int64s(axes.Summed)], Int("keepdims", 1));
            return axes.Lead == 0 ? summed : c.W.Node("Reshape", [summed, c.W.Shape(input)]);
        }

        return c.W.SumToShapeOf(grad, input, c.Facts.StaticDims(input), c.Facts.Rank(c.Y));
    }

    /// <summary>
    /// The output axes a broadcast input was stretched over: the leading axes it lacks, and each axis where it has extent 1
    /// and the output may not. Null when that cannot be told statically: an axis of the input is unknown, or symbolic
    /// without the output having the same symbol there (it could be 1 at run time).
    /// </summary>
    internal static (int Lead, long[] Summed)? BroadcastAxes(long?[]? input, long?[]? output)
    {
        if (input is null || output is null || input.Length > output.Length) return null;
        var lead = output.Length - input.Length;
        var summed = Enumerable.Range(0, lead).Select(a => (long)a).ToList();
        for (var a = 0; a < input.Length; a++)
        {
            var (d, y) = (input[a], output[a + lead]);
            if (d == 1) { if (y != 1) summed.Add(a + lead); }
            else if (d is > 1 || (d < 0 && y == d)) continue;
            else return null;
        }

        return (lead, [.. summed]);
    }
}
