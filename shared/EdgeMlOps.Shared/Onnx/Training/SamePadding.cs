using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// The zeros <c>auto_pad</c> SAME_UPPER/SAME_LOWER adds around a Conv's or a pool's input, computed in the backward
/// graph from the input's run-time size (the attribute leaves them to the runtime): each spatial axis padded to ⌈in/s⌉
/// outputs needs max(0, (⌈in/s⌉ − 1)·s + (k − 1)·d + 1 − in) zeros, half before and half after, the odd one after for
/// SAME_UPPER and before for SAME_LOWER. A rule differentiates the op as VALID over the padded input, then crops.
/// </summary>
internal sealed class SamePadding
{
    private SamePadding(string pads, string begin, string size, int rank)
    {
        (Pads, Begin, Size, _rank) = (pads, begin, size, rank);
    }

    private readonly int _rank;

    /// <summary>The Pad op's pads input for a tensor of the input's rank: zeros on the batch and channel axes.</summary>
    public string Pads { get; }

    /// <summary>The zeros before each spatial axis.</summary>
    public string Begin { get; }

    /// <summary>The input's spatial size.</summary>
    public string Size { get; }

    public static bool Applies(string autoPad) => autoPad is "SAME_UPPER" or "SAME_LOWER";

    public static SamePadding Of(GradientContext c, string x, int rank, long[] kernel, long[] strides, long[] dilations, bool upper)
    {
        var w = c.W;
        var size = w.Node("Slice", [w.Shape(x), w.Int64s(2), w.Int64s(rank)]);
        var stride = w.Int64s(strides);
        var outputs = w.Node("Div", [w.Node("Add", [size, w.Int64s([.. strides.Select(s => s - 1)])]), stride]);
        var reach = w.Int64s([.. kernel.Select((k, i) => ((k - 1) * dilations[i]) + 1)]);
        var needed = w.Node("Sub", [w.Node("Add", [w.Node("Mul", [w.Node("Sub", [outputs, w.Int64s(1)]), stride]), reach]), size]);
        var total = w.Node("Max", [needed, w.Int64s(0)]);
        var half = w.Node("Div", [total, w.Int64s(2)]);
        var begin = upper ? half : w.Node("Sub", [total, half]);
        var zeros = w.Int64s(0, 0);
        var pads = w.Node("Concat", [zeros, begin, zeros, w.Node("Sub", [total, begin])], Int("axis", 0));
        return new SamePadding(pads, begin, size, rank);
    }

    /// <summary><paramref name="value"/> (of the input's rank) padded as the op padded its input.</summary>
    public string Pad(GradientContext c, string value) => c.W.Node("Pad", [value, Pads]);

    /// <summary>A gradient over the padded input cropped back to the input: the padding's share is dropped.</summary>
    public string Crop(GradientContext c, string value) =>
        c.W.Node("Slice", [value, Begin, c.W.Node("Add", [Begin, Size]), c.W.Int64s([.. Enumerable.Range(2, _rank - 2).Select(i => (long)i)])]);
}
