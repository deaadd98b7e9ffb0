namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// ONNX Resize along one axis as the matrix it is (pure): output element <c>i</c> is Σⱼ M[i, j]·input[j], with M built
/// from the operator's coordinate transformation (where output coordinate <c>i</c> falls in the input) and its mode —
/// nearest (one neighbour, by <c>nearest_mode</c>), linear (two, by distance) or cubic (four, Keys' kernel with
/// <c>cubic_coeff_a</c>) — neighbours outside the input clamped to the edge, or with <c>exclude_outside</c> dropped and
/// the rest renormalised, as the ONNX reference implementation and ONNX Runtime compute it. Resize is separable, so
/// the gradient of the input is the output's gradient multiplied by each resized axis's Mᵀ.
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
    /// The [<paramref name="outLength"/>, <paramref name="inLength"/>] matrix, row-major. <paramref name="scale"/>: the
    /// axis's scale as given, or output over input extent when the node was given sizes.
    /// </summary>
    public static double[] Matrix(Settings settings, long inLength, long outLength, double scale)
    {
        var matrix = new double[outLength * inLength];
        for (var i = 0L; i < outLength; i++)
        {
            var x = Original(settings.Coordinates, i, scale, inLength, outLength);
            var row = matrix.AsSpan((int)(i * inLength), (int)inLength);
            switch (settings.Mode)
            {
                case "nearest":
                    row[(int)Clamp(Nearest(settings.NearestMode, x), inLength)] = 1;
                    break;
                case "linear":
                    var clamped = Math.Clamp(x, 0, inLength - 1); // ONNX Runtime clamps the coordinate before weighing
                    var left = Math.Floor(clamped);
                    Spread(row, (long)left, [1 - (clamped - left), clamped - left], first: 0, inLength, settings.ExcludeOutside);
                    break;
                default:
                    var start = Math.Floor(x);
                    Spread(row, (long)start, Cubic(x - start, settings.CubicA), first: -1, inLength, settings.ExcludeOutside);
                    break;
            }
        }

        return matrix;
    }

    /// <summary>Adds <paramref name="weights"/> for neighbours <paramref name="at"/> + <paramref name="first"/> + k.</summary>
    private static void Spread(Span<double> row, long at, double[] weights, int first, long inLength, bool excludeOutside)
    {
        if (excludeOutside)
        {
            var inside = 0.0;
            for (var k = 0; k < weights.Length; k++)
            {
                var j = at + first + k;
                if (j < 0 || j >= inLength) weights[k] = 0;
                inside += weights[k];
            }

            for (var k = 0; k < weights.Length; k++) weights[k] /= inside;
        }

        for (var k = 0; k < weights.Length; k++) row[(int)Clamp(at + first + k, inLength)] += weights[k];
    }

    private static long Clamp(long j, long length) => Math.Clamp(j, 0, length - 1);

    /// <summary>Where output coordinate <paramref name="i"/> falls in the input (ONNX's coordinate_transformation_mode).</summary>
    private static double Original(string coordinates, long i, double scale, long inLength, long outLength) => coordinates switch
    {
        "half_pixel" => (i + 0.5) / scale - 0.5,
        "pytorch_half_pixel" => outLength > 1 ? (i + 0.5) / scale - 0.5 : 0,
        "align_corners" => outLength == 1 ? 0 : i * (inLength - 1) / (double)(outLength - 1),
        "asymmetric" => i / scale,
        "tf_half_pixel_for_nn" => (i + 0.5) / scale,
        _ => HalfPixelSymmetric(i, scale, inLength, outLength),
    };

    private static double HalfPixelSymmetric(long i, double scale, long inLength, long outLength)
    {
        var adjustment = outLength / (scale * inLength);
        var center = inLength / 2.0;
        return center * (1 - adjustment) + (i + 0.5) / scale - 0.5;
    }

    private static long Nearest(string rounding, double x)
    {
        var floor = Math.Floor(x);
        return rounding switch
        {
            "floor" => (long)floor,
            "ceil" => (long)Math.Ceiling(x),
            "round_prefer_ceil" => x - floor >= 0.5 ? (long)floor + 1 : (long)floor,
            _ => x - floor > 0.5 ? (long)floor + 1 : (long)floor,
        };
    }

    /// <summary>Keys' cubic convolution weights of the neighbours at −1, 0, 1, 2 from the left one, <paramref name="t"/> past it.</summary>
    private static double[] Cubic(double t, double a)
    {
        static double Near(double d, double a) => ((a + 2) * d - (a + 3)) * d * d + 1; // |d| ≤ 1
        static double Far(double d, double a) => ((a * d - 5 * a) * d + 8 * a) * d - 4 * a; // 1 < |d| < 2
        return [Far(t + 1, a), Near(t, a), Near(1 - t, a), Far(2 - t, a)];
    }
}
