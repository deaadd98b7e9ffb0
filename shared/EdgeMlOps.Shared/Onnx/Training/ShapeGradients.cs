using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>Gradients of ops that only move values: reshapes, transposes, concatenation, gathering, slicing, reductions.</summary>
internal static class ShapeGradients
{
    /// <summary>Reshape, Flatten, Squeeze, Unsqueeze: the gradient takes the input's shape back.</summary>
    public static void Reshape(GradientContext c) => c.Give(0, () => c.W.Node("Reshape", [c.Dy, c.W.Shape(c.X)]));

    public static void Transpose(GradientContext c)
    {
        var perm = c.Ints("perm");
        c.Give(0, () =>
        {
            if (perm is null) return c.W.Node("Transpose", [c.Dy]); // the reversal is its own inverse
            var inverse = new long[perm.Length];
            for (var i = 0; i < perm.Length; i++) inverse[perm[i]] = i;
            return c.W.Node("Transpose", [c.Dy], Ints("perm", inverse));
        });
    }

    /// <summary>Concat: dY split along the axis into the inputs' extents (read from their shapes at run time).</summary>
    public static void Concat(GradientContext c)
    {
        var axis = c.Int("axis", 0);
        var count = c.Node.Input.Count;
        if (!Enumerable.Range(0, count).Any(c.Needs)) return;
        var extents = c.Node.Input.Select(input => c.W.Node("Gather", [c.W.Shape(input), c.W.Int64s(axis)], Int("axis", 0))).ToArray();
        var sizes = c.W.Node("Concat", extents, Int("axis", 0));
        var parts = c.W.Nodes("Split", [c.Dy, sizes], count, Int("axis", axis));
        for (var i = 0; i < count; i++) c.Give(i, parts[i]);
    }

    /// <summary>
    /// Gather (embeddings on axis 0; on any other axis, e.g. a transformer's first-token pick <c>x[:, 0]</c> on axis 1):
    /// dY scattered back and added at the gathered positions. Off axis 0 the gathered axis is moved to the front — of
    /// the data's shape, and of dY, whose indices' axes sit where the gathered axis was — the scatter runs on axis 0,
    /// and the result is moved back.
    /// </summary>
    public static void Gather(GradientContext c)
    {
        if (c.Needs(1)) throw c.Refuse("the indices of Gather carry no gradient");
        var axis = c.Int("axis", 0);
        var rows = new Lazy<string>(() => c.W.Node("Unsqueeze", [c.Input(1), c.W.Int64s(-1)]));
        if (axis == 0)
        {
            c.Give(0, () => c.W.Node("ScatterND", [c.W.Node("ConstantOfShape", [c.W.Shape(c.X)], c.W.Fill(0)), rows.Value, c.Dy], Str("reduction", "add")));
            return;
        }

        var rank = c.RankOf(c.X, "Gather data");
        if (axis < 0) axis += rank;
        var q = c.RankOf(c.Input(1), "Gather indices");
        c.Give(0, () =>
        {
            long[] front = [axis, .. Enumerable.Range(0, rank).Where(i => i != axis).Select(i => (long)i)];
            var back = new long[rank];
            for (var i = 0; i < rank; i++) back[front[i]] = i;
            long[] dyFront = [.. Enumerable.Range((int)axis, q), .. Enumerable.Range(0, (int)axis), .. Enumerable.Range((int)axis + q, rank - 1 - (int)axis)];
            var zeros = c.W.Node("ConstantOfShape", [c.W.Node("Gather", [c.W.Shape(c.X), c.W.Int64s(front)], Int("axis", 0))], c.W.Fill(0));
            var dy = c.W.Node("Transpose", [c.Dy], Ints("perm", dyFront));
            var scattered = c.W.Node("ScatterND", [zeros, rows.Value, dy], Str("reduction", "add"));
            return c.W.Node("Transpose", [scattered], Ints("perm", back));
        });
    }

    /// <summary>
    /// Slice with unit steps: dY padded back to the input's extent with zeros. The bounds may be constants or computed at
    /// run time (PyTorch's torch.chunk writes them from the input's shape); the axes must be constant. Other steps
    /// (x[::2], torch.flip): <see cref="IndexingGradients.StridedSlice"/>.
    /// </summary>
    public static void Slice(GradientContext c)
    {
        var starts = c.Facts.ConstantInts(c.Input(1));
        var ends = c.Facts.ConstantInts(c.Input(2));
        var axes = c.Node.Input.Count > 3 && c.Node.Input[3].Length > 0 ? c.Facts.ConstantInts(c.Input(3)) ?? throw c.Refuse("Slice axes that are not constants have no gradient rule") : null;
        var steps = c.Node.Input.Count > 4 && c.Node.Input[4].Length > 0 ? c.Facts.ConstantInts(c.Input(4)) : null;
        if (c.Node.Input.Count > 4 && c.Node.Input[4].Length > 0 && (steps is null || steps.Any(s => s != 1)))
        {
            c.Give(0, () => IndexingGradients.StridedSlice(c));
            return;
        }

        var count = axes?.Length ?? starts?.Length ?? ends?.Length ?? (c.Facts.Dims(c.Input(1)) is [long n] ? (int)n : throw c.Refuse("the number of sliced axes is not known"));
        var rank = c.RankOf(c.X, "Slice input");
        axes ??= [.. Enumerable.Range(0, count).Select(i => (long)i)];
        var dims = c.Facts.Dims(c.X);
        c.Give(0, () =>
        {
            // Where the slice began and ended on each axis, clamped as ONNX clamps them, gives the zeros before and after:
            // as constants when the bounds and the sliced axes' extents are known, else computed at run time.
            if (starts is not null && ends is not null && dims is not null && dims.Length == rank
                && axes.All(a => ValueDims.Extent(dims[(int)(a < 0 ? a + rank : a)]) is not null))
            {
                var pads = new long[2 * rank];
                for (var i = 0; i < axes.Length; i++)
                {
                    var axis = (int)(axes[i] < 0 ? axes[i] + rank : axes[i]);
                    var extent = dims[axis]!.Value;
                    long Clamped(long bound) => Math.Clamp(bound < 0 ? bound + extent : bound, 0, extent);
                    pads[axis] = Clamped(starts[i]);
                    pads[rank + axis] = extent - Math.Max(Clamped(starts[i]), Clamped(ends[i]));
                }

                return c.W.Node("Pad", [c.Dy, c.W.Int64s(pads)]);
            }

            var shape = c.W.Shape(c.X);
            var before = new string[rank];
            var after = new string[rank];
            for (var a = 0; a < rank; a++) (before[a], after[a]) = (c.W.Int64s(0), c.W.Int64s(0));
            for (var i = 0; i < axes.Length; i++)
            {
                var axis = (int)(axes[i] < 0 ? axes[i] + rank : axes[i]);
                var extent = c.W.Node("Gather", [shape, c.W.Int64s(axis)], Int("axis", 0));
                var start = starts is not null ? Clamp(c, starts[i], extent) : Clamp(c, c.Input(1), i, extent);
                var end = ends is not null ? Clamp(c, ends[i], extent) : Clamp(c, c.Input(2), i, extent);
                before[axis] = start;
                after[axis] = c.W.Node("Sub", [extent, c.W.Node("Max", [start, end])]);
            }

            return c.W.Node("Pad", [c.Dy, c.W.Node("Concat", [.. before, .. after], Int("axis", 0))]);
        });
    }

    /// <summary>ReduceSum / ReduceMean: dY (with the reduced axes restored) spread over the input, divided by the count for a mean.</summary>
    public static void Reduce(GradientContext c)
    {
        var mean = c.Node.OpType == "ReduceMean";
        var keep = c.Int("keepdims", 1) == 1;
        var axes = c.Facts.Axes(c.Node, 1);
        if (!keep && axes is null) throw c.Refuse("the reduced axes are not constant");
        c.Give(0, () =>
        {
            var dy = keep || axes!.Length == 0 ? c.Dy : c.W.Node("Unsqueeze", [c.Dy, c.W.Int64s(axes)]);
            var spread = c.W.Node("Expand", [dy, c.W.Shape(c.X)]);
            if (!mean) return spread;
            var count = c.W.Node("Div", [c.W.CountOf(c.X), c.W.CountOf(c.Y)]);
            return c.W.Node("Div", [spread, count]);
        });
    }

    /// <summary>ReduceMax / ReduceMin / GlobalMaxPool: dY shared evenly by the elements equal to the extreme (as PyTorch's amax/amin share it).</summary>
    public static void ReduceExtreme(GradientContext c)
    {
        var global = c.Node.OpType == "GlobalMaxPool";
        var keep = global || c.Int("keepdims", 1) == 1;
        var axes = global ? null : c.Facts.Axes(c.Node, 1);
        if (!keep && axes is null) throw c.Refuse("the reduced axes are not constant");
        c.Give(0, () =>
        {
            var shape = c.W.Shape(c.X);
            string Restore(string value) => c.W.Node("Expand", [keep || axes!.Length == 0 ? value : c.W.Node("Unsqueeze", [value, c.W.Int64s(axes)]), shape]);
            var winners = c.W.Node("Cast", [c.W.Node("Equal", [c.X, Restore(c.Y)])], c.W.CastToElement());
            var count = global
                ? c.W.Node("ReduceSum", [winners, c.W.Node("Range", [c.W.Int64Constant(2), c.W.RankScalar(c.X), c.W.Int64Constant(1)])], Int("keepdims", 1))
                : axes is null || axes.Length == 0 ? c.W.Node("ReduceSum", [winners], Int("keepdims", keep ? 1 : 0)) : c.W.Node("ReduceSum", [winners, c.W.Int64s(axes)], Int("keepdims", keep ? 1 : 0));
            return c.W.Node("Mul", [winners, Restore(c.W.Node("Div", [c.Dy, count]))]);
        });
    }

    /// <summary>
    /// Resize (any opset from 11): separable and linear in its input. Nearest by whole-number scales as nn.Upsample
    /// exports it (asymmetric coordinates and floor, or half-pixel and round half down) copies each input element into
    /// a block, so its gradient is the sum of dY over the block — a reshape and a ReduceSum that work on dynamic
    /// extents. Every other case — linear (bilinear) and cubic (bicubic) modes, any coordinate transformation,
    /// fractional scales, target sizes, exclude_outside — is dY multiplied by each resized axis's interpolation matrix
    /// (<see cref="ResizeInterpolation"/>), built from the extents at run time.
    /// </summary>
    public static void Resize(GradientContext c)
    {
        if (c.Node.Input.Count == 2) throw c.Refuse("Resize of opset 10 (scales as its second input) has no gradient rule; export with opset 11 or later");
        if (c.Int("antialias", 0) != 0) throw c.Refuse("Resize with antialias has no gradient rule");
        if (c.Ints("axes") is not null) throw c.Refuse("Resize with an axes attribute has no gradient rule; give scales or sizes for every axis");
        var settings = new ResizeInterpolation.Settings(
            GraphFacts.AttributeString(c.Node, "mode") ?? "nearest",
            GraphFacts.AttributeString(c.Node, "coordinate_transformation_mode") ?? "half_pixel",
            GraphFacts.AttributeString(c.Node, "nearest_mode") ?? "round_prefer_floor",
            c.Float("cubic_coeff_a", -0.75f),
            c.Int("exclude_outside", 0) != 0);
        if (ResizeInterpolation.Refusal(settings) is { } refusal) throw c.Refuse(refusal);
        var sized = c.Node.Input.Count > 3 && c.Node.Input[3].Length > 0;
        var scaled = !sized && c.Node.Input.Count > 2 && c.Node.Input[2].Length > 0;
        if (!scaled && !sized) throw c.Refuse("Resize without scales or sizes");
        var scales = scaled ? c.Facts.ConstantFloats(c.Input(2)) : null; // null when computed at run time: read in the graph
        var blocks = settings is { Mode: "nearest", ExcludeOutside: false } && scales is not null && scales.All(s => s >= 1 && s == MathF.Floor(s))
            && ((settings.Coordinates == "asymmetric" && settings.NearestMode == "floor") || (settings.Coordinates is "half_pixel" or "pytorch_half_pixel" && settings.NearestMode == "round_prefer_floor"));
        if (blocks) c.Give(0, () => BlockSums(c.W, c.X, c.Dy, scales!));
        else c.Give(0, InterpolationTransposed(c, settings, scaled, scales));
    }

    /// <summary>dY of a whole-number nearest Resize summed over each input element's block of copies.</summary>
    private static string BlockSums(GraphWriter w, string x, string dy, float[] scales)
    {
        var shape = w.Shape(x);
        var split = new List<string>();
        var blocks = new List<long>();
        for (var a = 0; a < scales.Length; a++)
        {
            split.Add(w.Node("Gather", [shape, w.Int64s(a)], Int("axis", 0)));
            if (scales[a] == 1) continue;
            blocks.Add(split.Count);
            split.Add(w.Int64s((long)scales[a]));
        }

        if (blocks.Count == 0) return dy;
        var grouped = w.Node("Reshape", [dy, w.Node("Concat", [.. split], Int("axis", 0))]);
        return w.Node("ReduceSum", [grouped, w.Int64s([.. blocks])], Int("keepdims", 0));
    }

    /// <summary>
    /// dY multiplied, along each axis the Resize may change, by that axis's interpolation matrix [out, in]: MatMul on the
    /// last axis, the others swapped there and back. The matrices are built in the graph from the extents (and scales
    /// not known before) at run time; an axis whose scale is not known to be 1 gets one, the identity if it is.
    /// </summary>
    private static Func<string> InterpolationTransposed(GradientContext c, ResizeInterpolation.Settings settings, bool scaled, float[]? scales)
    {
        var rank = c.RankOf(c.X, "Resize input");
        if (scales is not null && scales.Length != rank) throw c.Refuse($"{scales.Length} scales for an input of rank {rank}");
        var (inDims, outDims) = (c.Facts.Dims(c.X), c.Facts.Dims(c.Y));
        bool Untouched(int a) => scaled
            ? scales?[a] == 1 && settings.Coordinates != "tf_half_pixel_for_nn"
            : inDims?[a] is { } d && outDims is not null && outDims.Length == rank && outDims[a] == d; // a size equal to the extent (or the same symbol)
        var resized = Enumerable.Range(0, rank).Where(a => !Untouched(a)).ToArray();
        return () =>
        {
            var w = c.W;
            var grad = c.Dy;
            var last = rank - 1;
            foreach (var axis in resized)
            {
                var inLength = w.Node("Gather", [w.Shape(c.X), w.Int64Constant(axis)], Int("axis", 0));
                var outLength = w.Node("Gather", [w.Shape(c.Dy), w.Int64Constant(axis)], Int("axis", 0));
                var scale = scales is not null ? w.Scalar(scales[axis])
                    : scaled ? w.Node("Cast", [w.Node("Gather", [c.Input(2), w.Int64Constant(axis)], Int("axis", 0))], w.CastToElement())
                    : w.Node("Div", [w.Node("Cast", [outLength], w.CastToElement()), w.Node("Cast", [inLength], w.CastToElement())]);
                var matrix = ResizeInterpolation.Matrix(w, settings, inLength, outLength, scale);
                if (axis == last)
                {
                    grad = w.Node("MatMul", [grad, matrix]);
                    continue;
                }

                var swap = Ints("perm", [.. Enumerable.Range(0, rank).Select(i => i == axis ? last : i == last ? axis : i)]);
                grad = w.Node("Transpose", [w.Node("MatMul", [w.Node("Transpose", [grad], swap), matrix])], swap);
            }

            return grad;
        };
    }

    /// <summary>Expand: dY summed back over the broadcast axes to the input's shape.</summary>
    public static void Expand(GradientContext c) => c.Give(0, () => c.W.SumToShapeOf(c.Dy, c.X));

    /// <summary>Split: the outputs' gradients concatenated back along the axis, zeros for an output nothing downstream uses.</summary>
    public static void Split(GradientContext c)
    {
        var axis = c.Int("axis", 0);
        c.Give(0, () => c.W.Node("Concat", [.. c.Node.Output.Select((output, i) =>
            c.OutputGrad(i) ?? c.W.Node("ConstantOfShape", [c.W.Shape(output)], c.W.Fill(0)))], Int("axis", axis)));
    }

    /// <summary>
    /// Pad (constant mode; pads constant or computed at run time, as PyTorch's F.pad exports them; optional constant axes):
    /// dY with the added rows sliced off — and, where a pad is negative (a crop), zeros put back for the cropped rows.
    /// </summary>
    public static void Pad(GradientContext c)
    {
        var mode = GraphFacts.AttributeString(c.Node, "mode") ?? "constant";
        if (c.Needs(2)) throw c.Refuse("the padding value of Pad cannot be trained");
        if (mode is "reflect" or "edge" or "wrap")
        {
            c.Give(0, () => IndexingGradients.CopiedPad(c));
            return;
        }

        if (mode != "constant") throw c.Refuse($"Pad mode '{mode}' is not an ONNX padding mode");
        var constant = c.Ints("pads") ?? (c.Node.Input.Count > 1 ? c.Facts.ConstantInts(c.Input(1)) : null);
        var rank = c.RankOf(c.X, "Pad input");
        var someAxes = c.Node.Input.Count > 3 && c.Node.Input[3].Length > 0; // opset 18's axes input; without it, every axis
        var axes = someAxes
            ? c.Facts.ConstantInts(c.Input(3)) ?? throw c.Refuse("the axes are not constant")
            : [.. Enumerable.Range(0, rank).Select(i => (long)i)];
        axes = [.. axes.Select(a => a < 0 ? a + rank : a)];
        c.Give(0, () =>
        {
            var w = c.W;
            var pads = constant is not null ? w.Int64s(constant) : c.Input(1);
            var count = axes.Length;
            var begins = w.Node("Slice", [pads, w.Int64s(0), w.Int64s(count)]);
            var ends = w.Node("Slice", [pads, w.Int64s(count), w.Int64s(2 * count)]);
            var zero = w.Int64s(0);
            var extents = w.Node("Gather", [w.Shape(c.Dy), w.Int64s(axes)], Int("axis", 0));
            var kept = w.Node("Slice", [c.Dy, w.Node("Max", [begins, zero]), w.Node("Sub", [extents, w.Node("Max", [ends, zero])]), w.Int64s(axes)]);
            if (constant is not null && constant.All(p => p >= 0)) return kept;
            var cropped = w.Node("Concat", [w.Node("Max", [w.Node("Neg", [begins]), zero]), w.Node("Max", [w.Node("Neg", [ends]), zero])], Int("axis", 0));
            return w.Node("Pad", someAxes ? [kept, cropped, w.Scalar(0), w.Int64s(axes)] : [kept, cropped]);
        });
    }

    private static string Clamp(GradientContext c, long bound, string extent)
    {
        var value = bound < 0
            ? c.W.Node("Add", [extent, c.W.Int64s(Math.Max(bound, -(long)int.MaxValue))])
            : c.W.Int64s(Math.Min(bound, int.MaxValue));
        return c.W.Node("Min", [c.W.Node("Max", [value, c.W.Int64s(0)]), extent]);
    }

    /// <summary>Entry <paramref name="index"/> of run-time bounds, counted from the end when negative and clamped to [0, extent].</summary>
    private static string Clamp(GradientContext c, string bounds, int index, string extent)
    {
        var bound = c.W.Node("Gather", [bounds, c.W.Int64s(index)], Int("axis", 0));
        var value = c.W.Node("Where", [c.W.Node("Less", [bound, c.W.Int64s(0)]), c.W.Node("Add", [bound, extent]), bound]);
        return c.W.Node("Min", [c.W.Node("Max", [value, c.W.Int64s(0)]), extent]);
    }
}
