using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// Zeros a Conv or a pool adds around its input that depend on the input's run-time size, computed in the backward
/// graph (attributes leave them to the runtime); a rule differentiates the op as VALID over the padded input, then crops.
/// <list type="bullet">
/// <item><c>auto_pad</c> SAME_UPPER/SAME_LOWER (<see cref="Same"/>): each spatial axis padded to ⌈in/s⌉ outputs needs
/// max(0, (⌈in/s⌉ − 1)·s + (k − 1)·d + 1 − in) zeros, half before and half after, the odd one after for SAME_UPPER and
/// before for SAME_LOWER.</item>
/// <item><c>ceil_mode</c> (<see cref="Ceil"/>): the explicit pads, plus at the end what the last, partial window reaches
/// beyond them: ⌈(in + pads − k_eff) / s⌉ + 1 windows.</item>
/// </list>
/// </summary>
internal sealed class InputPadding
{
    private readonly int _rank;

    private InputPadding(string pads, string begin, string size, int rank)
    {
        (Pads, Begin, Size, _rank) = (pads, begin, size, rank);
    }

    /// <summary>The Pad op's pads input for a tensor of the input's rank: zeros on the batch and channel axes.</summary>
    public string Pads { get; }

    /// <summary>The zeros before each spatial axis.</summary>
    public string Begin { get; }

    /// <summary>The input's spatial size.</summary>
    public string Size { get; }

    public static bool IsSame(string autoPad) => autoPad is "SAME_UPPER" or "SAME_LOWER";

    public static InputPadding Same(GradientContext c, string x, int rank, long[] kernel, long[] strides, long[] dilations, bool upper)
    {
        var w = c.W;
        var size = w.Node("Slice", [w.Shape(x), w.Int64s(2), w.Int64s(rank)]);
        var stride = w.Int64s(strides);
        var outputs = w.Node("Div", [w.Node("Add", [size, w.Int64s([.. strides.Select(s => s - 1)])]), stride]);
        var total = Needed(c, outputs, stride, Reach(c, kernel, dilations), size);
        var half = w.Node("Div", [total, w.Int64s(2)]);
        var begin = upper ? half : w.Node("Sub", [total, half]);
        return new InputPadding(PadsOf(c, begin, w.Node("Sub", [total, begin])), begin, size, rank);
    }

    /// <summary>Explicit <paramref name="pads"/> (begins, then ends) and <c>ceil_mode</c>'s extra zeros at the end of each axis.</summary>
    public static InputPadding Ceil(GradientContext c, string x, int rank, long[] kernel, long[] strides, long[] dilations, long[] pads)
    {
        var w = c.W;
        var spatial = rank - 2;
        var size = w.Node("Slice", [w.Shape(x), w.Int64s(2), w.Int64s(rank)]);
        var stride = w.Int64s(strides);
        var reach = Reach(c, kernel, dilations);
        var padded = w.Node("Add", [size, w.Int64s([.. pads.Take(spatial).Zip(pads.Skip(spatial), (b, e) => b + e)])]);
        // ⌈(padded − reach) / s⌉ + 1 windows, the numerator made non-negative before the integer division
        var outputs = w.Node("Add", [w.Node("Div", [w.Node("Add", [w.Node("Sub", [padded, reach]), w.Int64s([.. strides.Select(s => s - 1)])]), stride]), w.Int64s(1)]);
        var extra = Needed(c, outputs, stride, reach, padded);
        var begin = w.Int64s(pads[..spatial]);
        return new InputPadding(PadsOf(c, begin, w.Node("Add", [w.Int64s(pads[spatial..]), extra])), begin, size, rank);
    }

    /// <summary><paramref name="value"/> (of the input's rank) padded as the op padded its input.</summary>
    public string Pad(GradientContext c, string value) => c.W.Node("Pad", [value, Pads]);

    /// <summary>A gradient over the padded input cropped back to the input: the padding's share is dropped.</summary>
    public string Crop(GradientContext c, string value) =>
        c.W.Node("Slice", [value, Begin, c.W.Node("Add", [Begin, Size]), c.W.Int64s([.. Enumerable.Range(2, _rank - 2).Select(i => (long)i)])]);

    /// <summary>(k − 1)·d + 1 per spatial axis: how far one window reaches.</summary>
    private static string Reach(GradientContext c, long[] kernel, long[] dilations) => c.W.Int64s([.. kernel.Select((k, i) => ((k - 1) * dilations[i]) + 1)]);

    /// <summary>max(0, (outputs − 1)·s + reach − covered): the zeros the last window needs past what is covered.</summary>
    private static string Needed(GradientContext c, string outputs, string stride, string reach, string covered)
    {
        var w = c.W;
        var needed = w.Node("Sub", [w.Node("Add", [w.Node("Mul", [w.Node("Sub", [outputs, w.Int64s(1)]), stride]), reach]), covered]);
        return w.Node("Max", [needed, w.Int64s(0)]);
    }

    private static string PadsOf(GradientContext c, string begin, string end)
    {
        var zeros = c.W.Int64s(0, 0);
        return c.W.Node("Concat", [zeros, begin, zeros, end], Int("axis", 0));
    }
}
