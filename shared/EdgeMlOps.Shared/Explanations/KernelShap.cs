namespace EdgeMlOps.Shared.Explanations;

/// <summary>
/// KernelSHAP: the Shapley values are the solution of a regression of coalition values on coalition membership,
/// weighted by the Shapley kernel (M−1) / (C(M,|z|)·|z|·(M−|z|)), with Σφ = f(x) − E f(background) imposed exactly.
/// Like SHAP's KernelExplainer, coalition sizes whose subsets the budget covers entirely are enumerated (the smallest and
/// largest first, where the kernel puts its weight) and the rest are sampled in complementary pairs.
/// </summary>
internal static class KernelShap
{
    public static ShapleyExplanation Explain(CoalitionGame game, int backgroundRows, ShapleyOptions options)
    {
        var m = game.Features;
        var budget = options.Samples > 0 ? Math.Min(options.Samples, options.MaxSamples) : Math.Min(2 * m + 2048, options.MaxSamples);
        var (masks, weights) = Coalitions(m, budget, new Random(options.Seed));
        var n = weights.Count;
        var v = game.Values(masks, n);
        var ends = new bool[2 * m];
        ends.AsSpan(m).Fill(true);
        var baseAndOutput = game.Values(ends, 2);
        var classes = game.Classes;
        var baseValues = baseAndOutput.AsSpan(0, classes).ToArray();
        var output = baseAndOutput.AsSpan(classes, classes).ToArray();
        var values = Solve(masks, weights, v, m, classes, baseValues, output);
        return new ShapleyExplanation("kernel", n + 2, backgroundRows, baseValues, output, values);
    }

    /// <summary>Coalitions (row-major masks) with their kernel weights, at most <paramref name="budget"/> of them.</summary>
    internal static (bool[] Masks, List<double> Weights) Coalitions(int m, int budget, Random random)
    {
        var masks = new List<bool>();
        var weights = new List<double>();
        var sizes = (m - 1 + 1) / 2; // sizes 1..⌈(M−1)/2⌉, each paired with M−size
        var kernel = new double[sizes + 1];
        for (var s = 1; s <= sizes; s++) kernel[s] = (m - 1.0) / (s * (m - s)) * (s != m - s ? 2 : 1);
        var total = kernel.Sum();
        for (var s = 1; s <= sizes; s++) kernel[s] /= total;

        var left = budget;
        var weightLeft = 1.0;
        var first = 1;
        for (; first <= sizes; first++)
        {
            var paired = first != m - first;
            var subsets = ExactShapley.Binomial(m, first) * (paired ? 2 : 1);
            if (subsets > left || left * kernel[first] / weightLeft < subsets - 1e-8) break;
            foreach (var subset in Subsets(m, first))
            {
                Add(subset, kernel[first] / subsets, complement: false);
                if (paired) Add(subset, kernel[first] / subsets, complement: true);
            }

            left -= (int)subsets;
            weightLeft -= kernel[first];
        }

        if (first <= sizes && left >= 2)
        {
            // Sample the remaining sizes by their share of the kernel, each subset with its complement.
            var cumulative = new double[sizes + 1];
            for (var s = first; s <= sizes; s++) cumulative[s] = (s > first ? cumulative[s - 1] : 0) + kernel[s];
            var pairs = left / 2;
            var indices = Enumerable.Range(0, m).ToArray();
            for (var p = 0; p < pairs; p++)
            {
                var draw = random.NextDouble() * cumulative[sizes];
                var size = first;
                while (size < sizes && cumulative[size] < draw) size++;
                for (var i = 0; i < size; i++)
                {
                    var j = random.Next(i, m);
                    (indices[i], indices[j]) = (indices[j], indices[i]);
                }

                var subset = indices.AsSpan(0, size).ToArray();
                Add(subset, weightLeft / (2 * pairs), complement: false);
                Add(subset, weightLeft / (2 * pairs), complement: true);
            }
        }

        return (masks.ToArray(), weights);

        void Add(int[] subset, double weight, bool complement)
        {
            var start = masks.Count;
            for (var j = 0; j < m; j++) masks.Add(complement);
            foreach (var j in subset) masks[start + j] = !complement;
            weights.Add(weight);
        }
    }

    private static IEnumerable<int[]> Subsets(int m, int size)
    {
        var subset = Enumerable.Range(0, size).ToArray();
        while (true)
        {
            yield return (int[])subset.Clone();
            var i = size - 1;
            while (i >= 0 && subset[i] == m - size + i) i--;
            if (i < 0) yield break;
            subset[i]++;
            for (var j = i + 1; j < size; j++) subset[j] = subset[j - 1] + 1;
        }
    }

    /// <summary>
    /// Weighted least squares with φ_last = Δ − Σ others substituted: for a coalition without the last feature the row
    /// is its membership and the target v − base; with it, minus the membership of its complement and v − base − Δ. The
    /// normal equations accumulate over the sparse side of each coalition and are solved by Cholesky.
    /// </summary>
    private static double[][] Solve(bool[] masks, List<double> weights, double[] v, int m, int classes, double[] baseValues, double[] output)
    {
        var d = m - 1;
        var a = new double[d * d];
        var b = new double[classes * d];
        var members = new int[d];
        for (var n = 0; n < weights.Count; n++)
        {
            var mask = masks.AsSpan(n * m, m);
            var withLast = mask[d];
            var count = 0;
            for (var j = 0; j < d; j++)
            {
                if (mask[j] != withLast) members[count++] = j;
            }

            var w = weights[n];
            for (var x = 0; x < count; x++)
            {
                var row = members[x] * d;
                for (var y = 0; y < count; y++) a[row + members[y]] += w;
            }

            for (var k = 0; k < classes; k++)
            {
                var target = v[n * classes + k] - baseValues[k] - (withLast ? output[k] - baseValues[k] : 0);
                var signed = withLast ? -w * target : w * target;
                for (var x = 0; x < count; x++) b[k * d + members[x]] += signed;
            }
        }

        var trace = 0.0;
        for (var j = 0; j < d; j++) trace += a[j * d + j];
        var ridge = Math.Max(1e-12, 1e-9 * trace / Math.Max(1, d)); // keeps a coalition set that misses a feature solvable
        for (var j = 0; j < d; j++) a[j * d + j] += ridge;
        Cholesky(a, d);
        var values = new double[classes][];
        for (var k = 0; k < classes; k++)
        {
            var phi = b.AsSpan(k * d, d).ToArray();
            CholeskySolve(a, d, phi);
            values[k] = new double[m];
            phi.CopyTo(values[k], 0);
            values[k][d] = output[k] - baseValues[k] - phi.Sum();
        }

        return values;
    }

    /// <summary>In place: the lower triangle becomes L with A = L·Lᵀ.</summary>
    private static void Cholesky(double[] a, int d)
    {
        for (var j = 0; j < d; j++)
        {
            var rowJ = a.AsSpan(j * d, j);
            var diagonal = a[j * d + j] - System.Numerics.Tensors.TensorPrimitives.Dot<double>(rowJ, rowJ);
            if (diagonal <= 0) throw new InvalidOperationException("KernelSHAP's regression is not positive definite");
            var l = Math.Sqrt(diagonal);
            a[j * d + j] = l;
            for (var i = j + 1; i < d; i++)
            {
                a[i * d + j] = (a[i * d + j] - System.Numerics.Tensors.TensorPrimitives.Dot<double>(a.AsSpan(i * d, j), rowJ)) / l;
            }
        }
    }

    private static void CholeskySolve(double[] l, int d, double[] x)
    {
        for (var i = 0; i < d; i++)
        {
            var sum = x[i];
            for (var k = 0; k < i; k++) sum -= l[i * d + k] * x[k];
            x[i] = sum / l[i * d + i];
        }

        for (var i = d - 1; i >= 0; i--)
        {
            var sum = x[i];
            for (var k = i + 1; k < d; k++) sum -= l[k * d + i] * x[k];
            x[i] = sum / l[i * d + i];
        }
    }
}
