using EdgeMlOps.Shared.Onnx.Proto;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// The windows of a sliding pool (AveragePool, LpPool) as its attributes define them, and what both backward steps
/// share: a value per window summed back onto every input element the window covered — a transposed convolution with a
/// kernel of ones, channels folded into the batch so one kernel serves them all, brought to the input's extent
/// (<see cref="LinearGradients.BackOntoInput"/>). Under <c>auto_pad</c> SAME, or with <c>ceil_mode</c> (its last window
/// partial), the input is padded as ONNX Runtime pads it (<see cref="InputPadding"/>), the pool differentiated as VALID
/// over it, and dX cropped back.
/// </summary>
internal sealed class PoolWindows
{
    private PoolWindows(long[] kernel, long[] strides, long[] dilations, long[] pads, bool ceil, string autoPad)
    {
        (Kernel, Strides, Dilations, Pads, Ceil, AutoPad) = (kernel, strides, dilations, pads, ceil, autoPad);
    }

    public long[] Kernel { get; }

    public long[] Strides { get; }

    public long[] Dilations { get; }

    /// <summary>The explicit pads (zeros under auto_pad, whose padding is computed at run time).</summary>
    public long[] Pads { get; }

    public bool Ceil { get; }

    public string AutoPad { get; }

    public int Rank => Kernel.Length + 2;

    /// <summary>The node's windows, refused (naming the node) where no rule covers them.</summary>
    public static PoolWindows Of(GradientContext c)
    {
        var op = c.Node.OpType;
        var ceil = c.Int("ceil_mode", 0) != 0;
        var autoPad = GraphFacts.AttributeString(c.Node, "auto_pad") ?? "NOTSET";
        if (autoPad is not ("NOTSET" or "VALID" or "SAME_UPPER" or "SAME_LOWER")) throw c.Refuse($"{op} with auto_pad={autoPad} has no gradient rule; export with explicit pads");
        var kernel = c.Ints("kernel_shape") ?? throw c.Refuse($"{op} without kernel_shape");
        var spatial = kernel.Length;
        var strides = c.Ints("strides") ?? Enumerable.Repeat(1L, spatial).ToArray();
        var dilations = c.Ints("dilations") ?? Enumerable.Repeat(1L, spatial).ToArray();
        var pads = (autoPad == "VALID" || InputPadding.IsSame(autoPad) ? null : c.Ints("pads")) ?? new long[2 * spatial];
        if (ceil && InputPadding.IsSame(autoPad)) throw c.Refuse($"{op} with ceil_mode=1 and auto_pad={autoPad} has no gradient rule yet");
        return new PoolWindows(kernel, strides, dilations, pads, ceil, autoPad);
    }

    /// <summary>The backward graph's view of the windows (built only when a gradient is wanted).</summary>
    public Backward Start(GradientContext c) => new(this, c);

    internal sealed class Backward
    {
        private readonly PoolWindows _windows;
        private readonly GradientContext _c;

        public Backward(PoolWindows windows, GradientContext c)
        {
            (_windows, _c) = (windows, c);
            var w = c.W;
            Runtime = InputPadding.IsSame(windows.AutoPad) ? InputPadding.Same(c, c.X, windows.Rank, windows.Kernel, windows.Strides, windows.Dilations, windows.AutoPad == "SAME_UPPER")
                : windows.Ceil ? InputPadding.Ceil(c, c.X, windows.Rank, windows.Kernel, windows.Strides, windows.Dilations, windows.Pads) : null;
            Input = Runtime?.Pad(c, c.X) ?? c.X;
            Ones = w.Node("ConstantOfShape", [w.Int64s([1, 1, .. windows.Kernel])], w.Fill(1));
            Window = [OnnxGraphBuilder.Ints("strides", windows.Strides), OnnxGraphBuilder.Ints("dilations", windows.Dilations), OnnxGraphBuilder.Ints("pads", PadsOverInput)];
        }

        /// <summary>The padding computed at run time (auto_pad SAME, ceil_mode), or null.</summary>
        public InputPadding? Runtime { get; }

        /// <summary>What the pool ran over: the input, padded when <see cref="Runtime"/> is set (its windows then VALID).</summary>
        public string Input { get; }

        /// <summary>A kernel of ones, one channel in and out.</summary>
        public string Ones { get; }

        /// <summary>Strides, dilations and pads of a Conv over <see cref="Input"/> with <see cref="Ones"/> visiting the pool's windows.</summary>
        public AttributeProto[] Window { get; }

        private long[] PadsOverInput => Runtime is null ? _windows.Pads : new long[2 * (_windows.Rank - 2)];

        /// <summary>[N, C, spatial…] → [N·C, 1, spatial…].</summary>
        public string Fold(string value)
        {
            var w = _c.W;
            return w.Node("Reshape", [value, w.Node("Concat", [w.Int64s(-1, 1), w.Node("Slice", [w.Shape(value), w.Int64s(2), w.Int64s(_windows.Rank)])], Int("axis", 0))]);
        }

        /// <summary>Each window's value (folded, as <see cref="Fold"/> makes it) summed onto the elements it covered: input-shaped.</summary>
        public string Spread(string perWindow)
        {
            var spread = LinearGradients.BackOntoInput(_c, perWindow, Ones, Input, _windows.Rank, _windows.Strides, _windows.Dilations, PadsOverInput, group: 1);
            var unfolded = _c.W.Node("Reshape", [spread, _c.W.Shape(Input)]);
            return Runtime?.Crop(_c, unfolded) ?? unfolded;
        }
    }
}
