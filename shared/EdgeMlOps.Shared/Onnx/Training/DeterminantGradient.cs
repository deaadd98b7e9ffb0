using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// Det (torch.det, torch.linalg.det: a flow's log-volume, a geometric model's orientation test) of X [..., n, n]:
/// dX = dY · cofactor(X), each cofactor C_ij = (−1)^(i+j) · det of X without row i and column j. Written from the n²
/// minors (a Gather of the other rows, one of the other columns, a Det), not det(X)·X⁻ᵀ: ONNX has no inverse, and
/// the cofactors stay exact where X is singular — the gradient of a determinant at zero is not zero. Needs n known,
/// at most <see cref="MaxOrder"/> (n² Dets of (n−1)×(n−1) minors).
/// </summary>
internal static class DeterminantGradient
{
    /// <summary>The largest matrix order whose determinant's gradient is written out (256 minors).</summary>
    public const int MaxOrder = 16;

    public static void Det(GradientContext c)
    {
        var rank = c.RankOf(c.X, "Det input");
        var order = rank >= 2 && c.Facts.Dims(c.X) is { } dims ? ValueDims.Extent(dims[rank - 1]) : null;
        if (order is not { } n) throw c.Refuse("the order of its matrices is not known (export with a fixed matrix size)");
        if (n is < 1 or > MaxOrder) throw c.Refuse($"its matrices are {n}×{n}; the gradient is written for orders 1 to {MaxOrder}");
        c.Give(0, () =>
        {
            var w = c.W;
            var cofactors = n == 1 ? w.Node("Expand", [w.Scalar(1), w.Shape(c.X)]) : Cofactors(w, c.X, (int)n); // a 1×1 matrix's is 1
            return w.Node("Mul", [cofactors, w.Node("Unsqueeze", [c.Dy, w.Int64s(-2, -1)])]);
        });
    }

    /// <summary>The cofactor matrix of <paramref name="x"/> [..., n, n]: the signed determinants of its n² minors.</summary>
    private static string Cofactors(GraphWriter w, string x, int n)
    {
        var entries = new List<string>(n * n);
        for (var i = 0; i < n; i++)
        {
            var rows = w.Node("Gather", [x, w.Int64s(Others(i, n))], Int("axis", -2));
            for (var j = 0; j < n; j++)
            {
                var minor = w.Node("Det", [w.Node("Gather", [rows, w.Int64s(Others(j, n))], Int("axis", -1))]);
                var signed = (i + j) % 2 == 0 ? minor : w.Node("Neg", [minor]);
                entries.Add(w.Node("Unsqueeze", [signed, w.Int64s(-1)]));
            }
        }

        return w.Node("Reshape", [w.Node("Concat", entries, Int("axis", -1)), w.Shape(x)]);
    }

    private static long[] Others(int skipped, int n) => [.. Enumerable.Range(0, n).Where(k => k != skipped).Select(k => (long)k)];
}
