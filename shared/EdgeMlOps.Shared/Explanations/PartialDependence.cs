namespace EdgeMlOps.Shared.Explanations;

/// <summary>A partial-dependence curve: at each grid value of one input, the model's mean probability per class.</summary>
/// <param name="Feature">The input varied.</param>
/// <param name="Grid">The values it is set to.</param>
/// <param name="Average">[grid point][class].</param>
public sealed record PartialDependenceCurve(int Feature, float[] Grid, double[][] Average)
{
    /// <summary>The class whose mean probability moves most along the grid (the one worth plotting for a multi-class model).</summary>
    public int MostAffectedClass()
    {
        var best = 0;
        var widest = -1.0;
        for (var k = 0; k < (Average.Length > 0 ? Average[0].Length : 0); k++)
        {
            var values = Average.Select(p => p[k]).ToArray();
            var range = values.Max() - values.Min();
            if (range > widest) (best, widest) = (k, range);
        }

        return best;
    }
}

/// <summary>
/// Partial dependence (Friedman 2001) by brute force, as scikit-learn's <c>partial_dependence(kind="average",
/// method="brute")</c>: every row with the input set to the grid value, probabilities averaged. The grid follows
/// scikit-learn too: the distinct values when there are fewer than the resolution, else evenly spaced between the
/// 5th and 95th percentiles (scipy's <c>mquantiles</c>, α = β = 0.4).
/// </summary>
public static class PartialDependence
{
    public static float[] Grid(ReadOnlySpan<float> column, int resolution = 20, double lower = 0.05, double upper = 0.95)
    {
        if (column.Length == 0) throw new ArgumentException("no values", nameof(column));
        if (resolution < 2) throw new ArgumentOutOfRangeException(nameof(resolution), resolution, "at least 2 grid points");
        var sorted = column.ToArray();
        Array.Sort(sorted);
        var distinct = sorted.Distinct().ToArray();
        if (distinct.Length < resolution) return distinct;
        var low = MQuantile(sorted, lower);
        var high = MQuantile(sorted, upper);
        if (low == high) throw new ArgumentException("the percentiles are too close to each other to build a grid", nameof(column));
        var grid = new float[resolution];
        for (var i = 0; i < resolution; i++) grid[i] = (float)(low + (high - low) * i / (resolution - 1));
        return grid;
    }

    /// <summary>scipy.stats.mstats.mquantiles with alphap = betap = 0.4 on sorted values.</summary>
    internal static double MQuantile(float[] sorted, double p)
    {
        const double Alpha = 0.4, Beta = 0.4;
        var n = sorted.Length;
        var aleph = n * p + Alpha + p * (1 - Alpha - Beta);
        var k = (int)Math.Floor(Math.Clamp(aleph, 1, n - 1));
        var gamma = Math.Clamp(aleph - k, 0, 1);
        return n == 1 ? sorted[0] : (1 - gamma) * sorted[k - 1] + gamma * sorted[k];
    }

    public static PartialDependenceCurve Compute(IProbabilityModel model, float[] features, int rows, int feature, float[] grid)
    {
        var m = model.InputDim;
        if (rows <= 0 || features.Length != rows * m) throw new ArgumentException($"expected {rows} rows of {m} features", nameof(features));
        if ((uint)feature >= (uint)m) throw new ArgumentOutOfRangeException(nameof(feature), feature, $"the model has {m} inputs");
        var classes = model.Classes;
        var average = new double[grid.Length][];
        var changed = (float[])features.Clone();
        for (var g = 0; g < grid.Length; g++)
        {
            for (var i = 0; i < rows; i++) changed[i * m + feature] = grid[g];
            var probabilities = model.Probabilities(changed, rows);
            average[g] = new double[classes];
            var answered = 0;
            for (var i = 0; i < rows; i++)
            {
                var row = probabilities.AsSpan(i * classes, classes);
                if (System.Numerics.Tensors.TensorPrimitives.Max(row) <= 0) continue; // not answered (IProbabilityModel): out of the average
                answered++;
                for (var k = 0; k < classes; k++) average[g][k] += row[k];
            }

            for (var k = 0; k < classes; k++) average[g][k] = answered == 0 ? double.NaN : average[g][k] / answered; // NaN: no row answered at this value
        }

        return new PartialDependenceCurve(feature, grid, average);
    }

    /// <summary>Column <paramref name="feature"/> of row-major rows.</summary>
    public static float[] Column(float[] features, int inputDim, int feature)
    {
        var rows = features.Length / inputDim;
        var column = new float[rows];
        for (var i = 0; i < rows; i++) column[i] = features[i * inputDim + feature];
        return column;
    }
}
