using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>Gradients of Gemm, MatMul and Conv.</summary>
internal static class LinearGradients
{
    /// <summary>
    /// Y = α·op(A)·op(B) + β·C. With A' = op(A), B' = op(B): dA' = α·dY·B'ᵀ and dB' = α·A'ᵀ·dY, each written as one
    /// Gemm whose transpose flags undo op(); dC is β·dY summed to C's shape.
    /// </summary>
    public static void Gemm(GradientContext c)
    {
        var alpha = c.Float("alpha", 1f);
        var beta = c.Float("beta", 1f);
        var transA = c.Int("transA", 0) != 0;
        var transB = c.Int("transB", 0) != 0;
        var (a, b, dy) = (c.Input(0), c.Input(1), c.Dy);
        var scale = Attribute("alpha", alpha);
        c.Give(0, () => transA
            ? c.W.Node("Gemm", [b, dy], scale, Int("transA", transB ? 1 : 0), Int("transB", 1))
            : c.W.Node("Gemm", [dy, b], scale, Int("transB", transB ? 0 : 1)));
        c.Give(1, () => transB
            ? c.W.Node("Gemm", [dy, a], scale, Int("transA", 1), Int("transB", transA ? 1 : 0))
            : c.W.Node("Gemm", [a, dy], scale, Int("transA", transA ? 0 : 1)));
        if (c.Node.Input.Count > 2 && c.Node.Input[2].Length > 0)
        {
            c.Give(2, () =>
            {
                var scaled = beta == 1f ? dy : c.W.Node("Mul", [dy, c.W.Scalar(beta)]);
                return c.W.SumToShapeOf(scaled, c.Input(2), c.Facts.StaticDims(c.Input(2)), gradRank: 2);
            });
        }
    }

    /// <summary>
    /// Batched matrix product: dA = dY·Bᵀ and dB = Aᵀ·dY over the last two axes, summed back over broadcast batch
    /// axes. A 2-D weight B (the Linear layer of every exporter) takes Aᵀ·dY with the batch axes folded into rows.
    /// </summary>
    public static void MatMul(GradientContext c)
    {
        var (a, b, dy) = (c.Input(0), c.Input(1), c.Dy);
        var rankA = c.RankOf(a, "MatMul input A");
        var rankB = c.RankOf(b, "MatMul input B");
        if (rankA < 2 || rankB < 2) throw c.Refuse("MatMul with a 1-D operand has no gradient rule; reshape it to 2-D");
        c.Give(0, () => ElementwiseGradients.SumTo(c, c.W.Node("MatMul", [dy, SwapLast(c, b, rankB)]), 0));
        c.Give(1, () =>
        {
            if (rankB == 2 && rankA > 2)
            {
                var rows = c.W.Node("Flatten", [a], Int("axis", rankA - 1));
                var grads = c.W.Node("Flatten", [dy], Int("axis", rankA - 1));
                return c.W.Node("MatMul", [c.W.Node("Transpose", [rows], Ints("perm", 1, 0)), grads]);
            }

            return ElementwiseGradients.SumTo(c, c.W.Node("MatMul", [SwapLast(c, a, rankA), dy]), 1);
        });
    }

    /// <summary>
    /// Conv (1-D, 2-D or 3-D; any group count, depthwise included; explicit, no or <c>auto_pad</c> SAME padding). dX is the transposed convolution of dY with W,
    /// padded at the end by the rows a strided Conv never reads; dW is the convolution of Xᵀ (channels as batch)
    /// with dYᵀ as the kernel, strides and dilations swapped, cropped to the kernel; dB sums dY over all but channels.
    /// SAME padding depends on the input's size, so the backward pass pads X as ONNX Runtime does (<see cref="InputPadding"/>),
    /// differentiates a VALID Conv over it, and crops dX back to X.
    /// </summary>
    public static void Conv(GradientContext c)
    {
        var group = c.Int("group", 1);
        var weightDims = c.Facts.StaticDims(c.Input(1));
        if (group != 1 && weightDims is null) throw c.Refuse($"Conv with group={group} needs a constant weight (its shape decides which channel pairs are kept)");
        var autoPad = GraphFacts.AttributeString(c.Node, "auto_pad") ?? "NOTSET";
        if (autoPad is not ("NOTSET" or "VALID" or "SAME_UPPER" or "SAME_LOWER")) throw c.Refuse($"Conv with auto_pad={autoPad} has no gradient rule; export with explicit pads");
        var same = InputPadding.IsSame(autoPad);
        var (x, w, dy) = (c.Input(0), c.Input(1), c.Dy);
        var rank = c.Facts.StaticDims(w)?.Length ?? c.RankOf(x, "Conv input");
        var spatial = rank - 2;
        var strides = c.Ints("strides") ?? Enumerable.Repeat(1L, spatial).ToArray();
        var dilations = c.Ints("dilations") ?? Enumerable.Repeat(1L, spatial).ToArray();
        var pads = autoPad == "VALID" || same ? null : c.Ints("pads");
        pads ??= new long[2 * spatial];
        var kernel = c.Ints("kernel_shape") ?? c.Facts.StaticDims(w)?.Skip(2).ToArray()
            ?? throw c.Refuse("the kernel shape is neither an attribute nor a constant weight's shape");
        var sameness = new Lazy<InputPadding?>(() => same ? InputPadding.Same(c, x, rank, kernel, strides, dilations, autoPad == "SAME_UPPER") : null);
        var padded = new Lazy<string>(() => sameness.Value is { } p ? p.Pad(c, x) : x);

        c.Give(0, () =>
        {
            var dInput = BackOntoInput(c, dy, w, padded.Value, rank, strides, dilations, pads, group);
            return sameness.Value is { } p ? p.Crop(c, dInput) : dInput;
        });
        c.Give(1, () => WeightGradient(c, padded.Value, dy, new ConvShape(rank, strides, dilations, pads, kernel, group, weightDims)));
        GiveBias(c, spatial);
    }

    /// <summary>
    /// A window op's output gradient <paramref name="dy"/> spread back onto <paramref name="input"/> by the transposed
    /// convolution with <paramref name="kernel"/>, cropped by the begin pads only: a stride that does not divide the
    /// padded extent leaves its last rows unread — end padding first, then input rows — so the result is cut to the
    /// input's extent where it is longer and padded with zeros (rows no window read) where it is shorter.
    /// </summary>
    internal static string BackOntoInput(GradientContext c, string dy, string kernel, string input, int rank, long[] strides, long[] dilations, long[] pads, long group)
    {
        var spatial = rank - 2;
        long[] beginPads = [.. pads[..spatial], .. new long[spatial]];
        var partial = c.W.Node("ConvTranspose", [dy, kernel], Ints("strides", strides), Ints("dilations", dilations), Ints("pads", beginPads), Int("group", group));
        var extent = c.W.Node("Slice", [c.W.Shape(input), c.W.Int64s(2), c.W.Int64s(rank)]);
        var missing = c.W.Node("Max", [c.W.Node("Sub", [extent, c.W.Node("Slice", [c.W.Shape(partial), c.W.Int64s(2), c.W.Int64s(rank)])]), c.W.Int64s(0)]);
        var padding = c.W.Node("Concat", [c.W.Int64s(new long[rank + 2]), missing], Int("axis", 0));
        var axes = c.W.Int64s([.. Enumerable.Range(2, spatial).Select(i => (long)i)]);
        return c.W.Node("Slice", [c.W.Node("Pad", [partial, padding]), c.W.Int64s(new long[spatial]), extent, axes]);
    }

    /// <summary>
    /// ConvTranspose (any dimension and group count, strides, dilations, explicit pads, <c>output_padding</c>): the adjoint
    /// of a Conv with the same weight, so dX is that Conv of dY, and dW is a Conv's weight gradient with the roles of input
    /// and output swapped (dY as the input, X as the output's gradient); dB sums dY over all but channels.
    /// </summary>
    public static void ConvTranspose(GradientContext c)
    {
        var group = c.Int("group", 1);
        var weightDims = c.Facts.StaticDims(c.Input(1));
        if (group != 1 && weightDims is null) throw c.Refuse($"ConvTranspose with group={group} needs a constant weight (its shape decides which channel pairs are kept)");
        var autoPad = GraphFacts.AttributeString(c.Node, "auto_pad") ?? "NOTSET";
        if (autoPad is not ("NOTSET" or "VALID")) throw c.Refuse($"ConvTranspose with auto_pad={autoPad} has no gradient rule; export with explicit pads");
        if (c.Ints("output_shape") is not null) throw c.Refuse("ConvTranspose with output_shape has no gradient rule; export with pads and output_padding");
        var (x, w, dy) = (c.Input(0), c.Input(1), c.Dy);
        var rank = weightDims?.Length ?? c.RankOf(x, "ConvTranspose input");
        var spatial = rank - 2;
        var strides = c.Ints("strides") ?? Enumerable.Repeat(1L, spatial).ToArray();
        var dilations = c.Ints("dilations") ?? Enumerable.Repeat(1L, spatial).ToArray();
        var pads = autoPad == "VALID" ? new long[2 * spatial] : c.Ints("pads") ?? new long[2 * spatial];
        var kernel = c.Ints("kernel_shape") ?? weightDims?.Skip(2).ToArray()
            ?? throw c.Refuse("the kernel shape is neither an attribute nor a constant weight's shape");
        c.Give(0, () => c.W.Node("Conv", [dy, w], Ints("strides", strides), Ints("dilations", dilations), Ints("pads", pads), Int("group", group)));
        c.Give(1, () => WeightGradient(c, dy, x, new ConvShape(rank, strides, dilations, pads, kernel, group, weightDims)));
        GiveBias(c, spatial);
    }

    /// <summary>A convolution's geometry, as its weight gradient needs it.</summary>
    private sealed record ConvShape(int Rank, long[] Strides, long[] Dilations, long[] Pads, long[] Kernel, long Group, long[]? WeightDims);

    /// <summary>
    /// The weight gradient of a convolution of <paramref name="input"/> whose output's gradient is <paramref name="outputGrad"/>:
    /// the convolution of the input with channels as batch by the output gradient as the kernel, strides and dilations
    /// swapped, cropped to the kernel.
    /// </summary>
    private static string WeightGradient(GradientContext c, string input, string outputGrad, ConvShape g)
    {
        var spatial = g.Rank - 2;
        var swap = Enumerable.Range(0, g.Rank).Select(i => (long)(i == 0 ? 1 : i == 1 ? 0 : i)).ToArray();
        var inputs = c.W.Node("Transpose", [input], Ints("perm", swap));
        var kernels = c.W.Node("Transpose", [outputGrad], Ints("perm", swap));
        var full = c.W.Node("Conv", [inputs, kernels], Ints("strides", g.Dilations), Ints("dilations", g.Strides), Ints("pads", g.Pads));
        var cropped = c.W.Node("Slice", [full, c.W.Int64s(new long[spatial]), c.W.Int64s(g.Kernel), c.W.Int64s([.. Enumerable.Range(2, spatial).Select(i => (long)i)])]);
        if (g.Group == 1) return c.W.Node("Transpose", [cropped], Ints("perm", swap));
        return GroupBlocks(c, cropped, g.WeightDims!, g.Group);
    }

    private static void GiveBias(GradientContext c, int spatial)
    {
        if (c.Node.Input.Count > 2 && c.Node.Input[2].Length > 0)
        {
            c.Give(2, () => c.W.Node("ReduceSum", [c.Dy, c.W.Int64s([0, .. Enumerable.Range(2, spatial).Select(i => (long)i)])], Int("keepdims", 0)));
        }
    }

    /// <summary>
    /// With groups, the full cross product [C, M, k…] of every input channel with every output channel is computed and
    /// the blocks a grouped Conv actually connects are gathered: output channel m of group j = m / (M/g) pairs with
    /// input channels j·C/g … (j+1)·C/g − 1. This costs g× the arithmetic of the blocks alone (a depthwise Conv: C×).
    /// </summary>
    private static string GroupBlocks(GradientContext c, string cross, long[] weightDims, long group)
    {
        var (outputs, perGroup) = (weightDims[0], weightDims[1]);
        var inputs = perGroup * group;
        var kernelSize = weightDims.Skip(2).Aggregate(1L, (a, d) => a * d);
        var rows = c.W.Node("Reshape", [cross, c.W.Int64s(inputs * outputs, kernelSize)]);
        var picks = new long[outputs * perGroup];
        for (long m = 0, i = 0; m < outputs; m++)
            for (long k = 0; k < perGroup; k++, i++)
                picks[i] = ((m / (outputs / group) * perGroup) + k) * outputs + m;
        var gathered = c.W.Node("Gather", [rows, c.W.Int64s(picks)], Int("axis", 0));
        return c.W.Node("Reshape", [gathered, c.W.Int64s(weightDims)]);
    }

    private static string SwapLast(GradientContext c, string value, int rank)
    {
        var perm = Enumerable.Range(0, rank).Select(i => (long)i).ToArray();
        (perm[rank - 2], perm[rank - 1]) = (perm[rank - 1], perm[rank - 2]);
        return c.W.Node("Transpose", [value], Ints("perm", perm));
    }

    private static Proto.AttributeProto Attribute(string name, float value) =>
        new() { Name = name, Type = Proto.AttributeProto.Types.AttributeType.Float, F = value };
}
