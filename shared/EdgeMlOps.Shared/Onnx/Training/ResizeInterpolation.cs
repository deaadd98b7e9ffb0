namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// ONNX Resize along one axis as the matrix it is: output element <c>i</c> is Σⱼ M[i, j]·input[j], with M built from
/// the operator's coordinate transformation (where output coordinate <c>i</c> falls in the input) and its mode —
/// nearest (one neighbour, by <c>nearest_mode</c>), linear (two, by distance, the coordinate clamped to the input
/// first) or cubic (four, Keys' kernel with <c>cubic_coeff_a</c>) — neighbours outside the input clamped to the edge,
/// or with <c>exclude_outside</c> dropped and the rest renormalised, as the ONNX reference implementation and ONNX
/// Runtime compute it. The matrix is written as graph nodes from the extents at run time, in the model's float type
/// (ONNX Runtime's own coordinate arithmetic is float), so images of any size train. Resize is separable, so the
/// gradient of the input is the output's gradient multiplied by each resized axis's M.
/// </summary>
internal static class ResizeInterpolation
{
    /// <summary>The attributes that decide the matrix; <see cref="Refusal"/> names any this class does not build.</summary>
    internal sealed record Settings(string Mode, string Coordinates, string NearestMode, double CubicA, bool ExcludeOutside);

    /// <summary>Why <paramref name="settings"/> cannot be built as a matrix, or null.</summary>
    public static string? Refusal(Settings settings)
    {
        if (settings.Mode is not ("nearest" or "linear" or "cubic")) return $"Resize mode '{settings.Mode}' is not nearest, linear or cubic";
        if (settings.Coordinates is not ("half_pixel" or "pytorch_half_pixel" or "align_corners" or "asymmetric" or "half_pixel_symmetric" or "tf_half_pixel_for_nn"))
            return $"Resize coordinate_transformation_mode '{settings.Coordinates}' has no gradient rule";
        if (settings.Mode == "nearest" && settings.NearestMode is not ("round_prefer_floor" or "round_prefer_ceil" or "floor" or "ceil"))
            return $"Resize nearest_mode '{settings.NearestMode}' is not an ONNX rounding";
        return null;
    }

    /// <summary>
    /// The [out, in] matrix of one axis. <paramref name="inLength"/>, <paramref name="outLength"/>: int64 scalars;
    /// <paramref name="scale"/>: a scalar of the model's type — the axis's scale as given, or out over in for sizes.
    /// </summary>
    public static string Matrix(GraphWriter w, Settings settings, string inLength, string outLength, string scale)
    {
        var (inF, outF) = (w.Node("Cast", [inLength], w.CastToElement()), w.Node("Cast", [outLength], w.CastToElement()));
        var x = Original(w, settings.Coordinates, w.Node("Cast", [w.Node("Range", [w.Int64Constant(0), outLength, w.Int64Constant(1)])], w.CastToElement()), scale, inF, outF);
        var last = w.Node("Sub", [inF, w.Scalar(1)]);
        switch (settings.Mode)
        {
            case "nearest":
                return Rows(w, null, Nearest(w, settings.NearestMode, x), first: 0, inLength, last, excludeOutside: false);
            case "linear":
                var clamped = w.Node("Min", [w.Node("Max", [x, w.Scalar(0)]), last]); // ONNX Runtime clamps the coordinate before weighing
                var left = w.Node("Floor", [clamped]);
                var t = w.Node("Sub", [clamped, left]);
                return Rows(w, [w.Node("Sub", [w.Scalar(1), t]), t], left, first: 0, inLength, last, settings.ExcludeOutside);
            default:
                var start = w.Node("Floor", [x]);
                return Rows(w, Cubic(w, w.Node("Sub", [x, start]), settings.CubicA), start, first: -1, inLength, last, settings.ExcludeOutside);
        }
    }

    /// <summary>
    /// Σₖ weightₖ[i]·[j = clamp(at[i] + first + k)] — one row per output element, <paramref name="at"/> the left
    /// neighbour's position (nearest: the one neighbour's, with weight 1 when <paramref name="weights"/> is null).
    /// </summary>
    private static string Rows(GraphWriter w, string[]? weights, string at, int first, string inLength, string last, bool excludeOutside)
    {
        var columns = w.Node("Cast", [w.Node("Range", [w.Int64Constant(0), inLength, w.Int64Constant(1)])], w.CastToElement());
        if (weights is null) return w.Node("Cast", [w.Node("Equal", [w.Node("Unsqueeze", [w.Node("Min", [w.Node("Max", [at, w.Scalar(0)]), last]), w.Int64s(1)]), columns])], w.CastToElement());
        var positions = weights.Select((_, k) => w.Node("Add", [at, w.Scalar(first + k)])).ToArray();
        if (excludeOutside)
        {
            weights = [.. weights.Select((weight, k) => w.Node("Where", [
                w.Node("And", [w.Node("GreaterOrEqual", [positions[k], w.Scalar(0)]), w.Node("LessOrEqual", [positions[k], last])]), weight, w.Scalar(0)]))];
            var total = weights.Skip(1).Aggregate(weights[0], (sum, weight) => w.Node("Add", [sum, weight]));
            weights = [.. weights.Select(weight => w.Node("Div", [weight, total]))];
        }

        string? matrix = null;
        for (var k = 0; k < weights.Length; k++)
        {
            var column = w.Node("Unsqueeze", [w.Node("Min", [w.Node("Max", [positions[k], w.Scalar(0)]), last]), w.Int64s(1)]);
            var hits = w.Node("Cast", [w.Node("Equal", [column, columns])], w.CastToElement());
            var weighted = w.Node("Mul", [hits, w.Node("Unsqueeze", [weights[k], w.Int64s(1)])]);
            matrix = matrix is null ? weighted : w.Node("Add", [matrix, weighted]);
        }

        return matrix!;
    }

    /// <summary>Where output coordinates <paramref name="i"/> fall in the input (ONNX's coordinate_transformation_mode).</summary>
    private static string Original(GraphWriter w, string coordinates, string i, string scale, string inF, string outF)
    {
        var center = w.Node("Sub", [w.Node("Div", [w.Node("Add", [i, w.Scalar(0.5)]), scale]), w.Scalar(0.5)]); // (i + ½)/scale − ½
        switch (coordinates)
        {
            case "half_pixel":
                return center;
            case "pytorch_half_pixel":
                return w.Node("Where", [w.Node("Greater", [outF, w.Scalar(1)]), center, w.Scalar(0)]);
            case "align_corners":
                var stretched = w.Node("Div", [w.Node("Mul", [i, w.Node("Sub", [inF, w.Scalar(1)])]), w.Node("Max", [w.Node("Sub", [outF, w.Scalar(1)]), w.Scalar(1)])]);
                return w.Node("Where", [w.Node("Equal", [outF, w.Scalar(1)]), w.Scalar(0), stretched]);
            case "asymmetric":
                return w.Node("Div", [i, scale]);
            case "tf_half_pixel_for_nn":
                return w.Node("Div", [w.Node("Add", [i, w.Scalar(0.5)]), scale]);
            default: // half_pixel_symmetric: centred on the input when the scale does not divide the sizes evenly
                var adjustment = w.Node("Div", [outF, w.Node("Mul", [scale, inF])]);
                var offset = w.Node("Mul", [w.Node("Div", [inF, w.Scalar(2)]), w.Node("Sub", [w.Scalar(1), adjustment])]);
                return w.Node("Add", [offset, center]);
        }
    }

    private static string Nearest(GraphWriter w, string rounding, string x)
    {
        if (rounding == "floor") return w.Node("Floor", [x]);
        if (rounding == "ceil") return w.Node("Ceil", [x]);
        var floor = w.Node("Floor", [x]);
        var up = w.Node(rounding == "round_prefer_ceil" ? "GreaterOrEqual" : "Greater", [w.Node("Sub", [x, floor]), w.Scalar(0.5)]);
        return w.Node("Where", [up, w.Node("Add", [floor, w.Scalar(1)]), floor]);
    }

    /// <summary>Keys' cubic convolution weights of the neighbours at −1, 0, 1, 2 from the left one, <paramref name="t"/> past it.</summary>
    private static string[] Cubic(GraphWriter w, string t, double a)
    {
        string Near(string d) => w.Node("Add", [w.Node("Mul", [w.Node("Mul", [w.Node("Sub", [w.Node("Mul", [w.Scalar(a + 2), d]), w.Scalar(a + 3)]), d]), d]), w.Scalar(1)]); // |d| ≤ 1
        string Far(string d) => w.Node("Sub", [w.Node("Mul", [w.Node("Add", [w.Node("Mul", [w.Node("Sub", [w.Node("Mul", [w.Scalar(a), d]), w.Scalar(5 * a)]), d]), w.Scalar(8 * a)]), d]), w.Scalar(4 * a)]); // 1 < |d| < 2
        var oneMinus = w.Node("Sub", [w.Scalar(1), t]);
        return [Far(w.Node("Add", [t, w.Scalar(1)])), Near(t), Near(oneMinus), Far(w.Node("Add", [oneMinus, w.Scalar(1)]))];
    }
}
