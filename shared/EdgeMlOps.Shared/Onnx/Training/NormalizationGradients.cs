using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>Gradients of pooling and normalisation layers.</summary>
internal static class NormalizationGradients
{
    /// <summary>
    /// MaxPool routes each gradient to the input element that won: the forward node is given its Indices output
    /// (flat positions in the input) and dY is scatter-added there.
    /// </summary>
    public static void MaxPool(GradientContext c)
    {
        if (c.Int("storage_order", 0) != 0) throw c.Refuse("MaxPool with storage_order=1 has no gradient rule");
        if (c.Node.Output.Count < 2 || c.Node.Output[1].Length == 0)
        {
            while (c.Node.Output.Count < 2) c.Node.Output.Add(string.Empty);
            c.Node.Output[1] = c.W.Fresh("maxpool_indices");
        }

        var indices = c.Node.Output[1];
        c.Give(0, () =>
        {
            var flat = c.W.Int64s(-1);
            var zeros = c.W.Node("ConstantOfShape", [c.W.Node("Unsqueeze", [c.W.Node("Size", [c.X]), c.W.Int64s(0)])], c.W.Fill(0));
            var scattered = c.W.Node("ScatterElements", [zeros, c.W.Node("Reshape", [indices, flat]), c.W.Node("Reshape", [c.Dy, flat])],
                Int("axis", 0), Str("reduction", "add"));
            return c.W.Node("Reshape", [scattered, c.W.Shape(c.X)]);
        });
    }

    /// <summary>
    /// AveragePool: each output's gradient, divided by the number of elements its window averaged, is spread back over
    /// that window (<see cref="PoolWindows"/>). With <c>count_include_pad=0</c> the divisor of each window is counted by
    /// convolving ones over the unpadded input.
    /// </summary>
    public static void AveragePool(GradientContext c)
    {
        var windows = PoolWindows.Of(c);
        var includePad = c.Int("count_include_pad", 0) != 0;
        c.Give(0, () =>
        {
            var w = c.W;
            var run = windows.Start(c);
            string divisor;
            if ((includePad && !windows.Ceil) || (run.Runtime is null && windows.Pads.All(p => p == 0)))
            {
                divisor = w.Scalar(windows.Kernel.Aggregate(1L, (a, k) => a * k));
            }
            else
            {
                var valid = w.Node("ConstantOfShape", [w.Node("Concat", [w.Int64s(1, 1), w.Node("Slice", [w.Shape(c.X), w.Int64s(2), w.Int64s(windows.Rank)])], Int("axis", 0))], w.Fill(1));
                // Ones where the pool counts: the input (count_include_pad=0), or the input and its explicit pads — not the
                // zeros ceil_mode's partial last window reaches past them (count_include_pad=1, as ONNX Runtime counts).
                var counted = includePad ? CountedWithPads(c, valid, run.Input, windows.Pads, windows.Strides, windows.Rank) : run.Runtime?.Pad(c, valid) ?? valid;
                divisor = w.Node("Conv", [counted, run.Ones], run.Window);
            }

            return run.Spread(w.Node("Div", [run.Fold(c.Dy), divisor]));
        });
    }

    /// <summary>
    /// Ones over the input and its explicit pads, zeros past them up to the extent of <paramref name="input"/> (the input as
    /// the pool ran over it, with ceil_mode's extra zeros; those are fewer than a stride).
    /// </summary>
    private static string CountedWithPads(GradientContext c, string valid, string input, long[] pads, long[] strides, int rank)
    {
        var w = c.W;
        var spatial = rank - 2;
        var withPads = w.Node("Pad", [valid, w.Int64s([0, 0, .. pads[..spatial], 0, 0, .. pads[spatial..]]), w.Scalar(1)]);
        var tail = w.Node("Pad", [withPads, w.Int64s([.. new long[spatial + 2], 0, 0, .. strides])]);
        return w.Node("Slice", [tail, w.Int64s(new long[spatial]), w.Node("Slice", [w.Shape(input), w.Int64s(2), w.Int64s(rank)]), w.Int64s([.. Enumerable.Range(2, spatial).Select(i => (long)i)])]);
    }

    /// <summary>GlobalAveragePool: dY spread over each channel's positions, divided by their number.</summary>
    public static void GlobalAveragePool(GradientContext c) => c.Give(0, () =>
    {
        var spread = c.W.Node("Expand", [c.Dy, c.W.Shape(c.X)]);
        return c.W.Node("Div", [spread, c.W.Node("Div", [c.W.CountOf(c.X), c.W.CountOf(c.Y)])]);
    });

    /// <summary>
    /// BatchNormalization in inference mode (running statistics frozen): y = γ·(x − μ)/√(σ² + ε) + β, so dX is dY
    /// scaled per channel, dγ sums dY·x̂ and dβ sums dY over all but the channel axis.
    /// </summary>
    public static void BatchNormalization(GradientContext c)
    {
        if (c.Int("training_mode", 0) != 0) throw c.Refuse("BatchNormalization in training mode has no gradient rule; export in eval mode (statistics frozen)");
        if (c.Needs(3) || c.Needs(4)) throw c.Refuse("the running mean and variance of BatchNormalization are statistics, not trainable parameters");
        var (x, scale, mean, variance) = (c.X, c.Input(1), c.Input(3), c.Input(4));
        var epsilon = c.Float("epsilon", 1e-5f);
        var inverse = c.W.Node("Reciprocal", [c.W.Node("Sqrt", [c.W.Node("Add", [variance, c.W.Scalar(epsilon)])])]);
        c.Give(0, () => c.W.Node("Mul", [c.Dy, c.W.PerChannel(c.W.Node("Mul", [scale, inverse]), x)]));
        c.Give(1, () =>
        {
            var normalised = c.W.Node("Mul", [c.W.Node("Sub", [x, c.W.PerChannel(mean, x)]), c.W.PerChannel(inverse, x)]);
            return c.W.Node("ReduceSum", [c.W.Node("Mul", [c.Dy, normalised]), c.W.AxesExceptChannel(x)], Int("keepdims", 0));
        });
        c.Give(2, () => c.W.Node("ReduceSum", [c.Dy, c.W.AxesExceptChannel(x)], Int("keepdims", 0)));
    }

    /// <summary>
    /// LayerNormalization over the axes from <c>axis</c> on: with x̂ = (x − μ)/σ and g = dY·γ,
    /// dX = (g − mean(g) − x̂·mean(g·x̂))/σ; dγ and dβ sum dY·x̂ and dY over the leading axes.
    /// </summary>
    public static void LayerNormalization(GradientContext c)
    {
        var axis = c.Int("axis", -1);
        var rank = axis < 0 ? (int?)null : c.RankOf(c.X, "LayerNormalization input");
        var axes = axis < 0
            ? Enumerable.Range((int)axis, (int)-axis).Select(a => (long)a).ToArray()
            : Enumerable.Range((int)axis, rank!.Value - (int)axis).Select(a => (long)a).ToArray();
        var standard = new Standardised(c, axes, c.Float("epsilon", 1e-5f));
        c.Give(0, () => standard.InputGradient(c.W.Node("Mul", [c.Dy, c.Input(1)])));
        c.Give(1, () => ElementwiseGradients.SumTo(c, c.W.Node("Mul", [c.Dy, standard.Normalised]), 1));
        if (c.Node.Input.Count > 2 && c.Node.Input[2].Length > 0) c.Give(2, () => ElementwiseGradients.SumTo(c, c.Dy, 2));
    }

    /// <summary>
    /// InstanceNormalization (what PyTorch's GroupNorm and InstanceNorm export to): each (sample, channel) standardised
    /// over its spatial axes, then y = scale[c]·x̂ + B[c]; dX as for LayerNormalization over those axes, dScale and dB
    /// summed over all but the channel axis.
    /// </summary>
    public static void InstanceNormalization(GradientContext c)
    {
        var rank = c.RankOf(c.X, "InstanceNormalization input");
        var standard = new Standardised(c, [.. Enumerable.Range(2, rank - 2).Select(a => (long)a)], c.Float("epsilon", 1e-5f));
        var perChannel = c.W.Int64s([0, .. Enumerable.Range(2, rank - 2).Select(a => (long)a)]);
        c.Give(0, () => standard.InputGradient(c.W.Node("Mul", [c.Dy, c.W.PerChannel(c.Input(1), c.X)])));
        c.Give(1, () => c.W.Node("ReduceSum", [c.W.Node("Mul", [c.Dy, standard.Normalised]), perChannel], Int("keepdims", 0)));
        c.Give(2, () => c.W.Node("ReduceSum", [c.Dy, perChannel], Int("keepdims", 0)));
    }

    /// <summary>
    /// x standardised over some axes, x̂ = (x − mean)/√(var + ε), recomputed for the backward pass; the gradient reaching
    /// x̂ (g) goes back to x as (g − mean(g) − x̂·mean(g·x̂)) / √(var + ε).
    /// </summary>
    private sealed class Standardised
    {
        private readonly GradientContext _c;
        private readonly string _axes;

        public Standardised(GradientContext c, long[] axes, float epsilon)
        {
            _c = c;
            _axes = c.W.Int64s(axes);
            var centred = c.W.Node("Sub", [c.X, Mean(c.X)]);
            Inverse = c.W.Node("Reciprocal", [c.W.Node("Sqrt", [c.W.Node("Add", [Mean(c.W.Node("Mul", [centred, centred])), c.W.Scalar(epsilon)])])]);
            Normalised = c.W.Node("Mul", [centred, Inverse]);
        }

        public string Normalised { get; }

        private string Inverse { get; }

        public string InputGradient(string g)
        {
            var w = _c.W;
            var inner = w.Node("Sub", [w.Node("Sub", [g, Mean(g)]), w.Node("Mul", [Normalised, Mean(w.Node("Mul", [g, Normalised]))])]);
            return w.Node("Mul", [inner, Inverse]);
        }

        private string Mean(string value)
        {
            var sum = _c.W.Node("ReduceSum", [value, _axes], Int("keepdims", 1));
            return _c.W.Node("Div", [sum, _c.W.Node("Div", [_c.W.CountOf(value), _c.W.CountOf(sum)])]);
        }
    }
}
