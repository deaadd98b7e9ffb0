namespace EdgeMlOps.Shared.Explanations;

/// <summary>One input's permutation importance: the mean drop in accuracy when its column is shuffled, and its spread over repeats.</summary>
public sealed record FeatureImportance(int Feature, double Mean, double StdDev);

/// <summary>Permutation importances of every input on a labelled set.</summary>
public sealed record PermutationImportances(double BaselineAccuracy, int Samples, int Repeats, IReadOnlyList<FeatureImportance> Features)
{
    /// <summary>The <paramref name="count"/> most important inputs, most important first (ties: lower index first).</summary>
    public IReadOnlyList<FeatureImportance> Top(int count) =>
        Features.OrderByDescending(f => f.Mean).ThenBy(f => f.Feature).Take(count).ToArray();
}

/// <summary>
/// Permutation importance (Breiman 2001; scikit-learn's <c>permutation_importance</c> with accuracy as the score):
/// shuffling one input's column breaks its relation to the label and keeps its distribution; the accuracy lost is what
/// the model relies on it for. Model-agnostic; costs inputs × repeats × rows predictions, so callers bound the rows.
/// </summary>
public static class PermutationImportance
{
    public static PermutationImportances Compute(IProbabilityModel model, float[] features, long[] labels, int repeats, int seed)
    {
        var m = model.InputDim;
        var n = labels.Length;
        if (n == 0 || features.Length != n * m) throw new ArgumentException($"expected {n} rows of {m} features", nameof(features));
        if (repeats < 1) throw new ArgumentOutOfRangeException(nameof(repeats), repeats, "at least one repeat");
        var baseline = Accuracy(model, features, labels);
        var random = new Random(seed);
        var permuted = (float[])features.Clone();
        var order = new int[n];
        var drops = new double[repeats];
        var result = new FeatureImportance[m];
        for (var j = 0; j < m; j++)
        {
            for (var r = 0; r < repeats; r++)
            {
                for (var i = 0; i < n; i++) order[i] = i;
                random.Shuffle(order);
                for (var i = 0; i < n; i++) permuted[i * m + j] = features[order[i] * m + j];
                drops[r] = baseline - Accuracy(model, permuted, labels);
            }

            for (var i = 0; i < n; i++) permuted[i * m + j] = features[i * m + j];
            var mean = drops.Average();
            result[j] = new FeatureImportance(j, mean, Math.Sqrt(drops.Sum(d => (d - mean) * (d - mean)) / repeats));
        }

        return new PermutationImportances(baseline, n, repeats, result);
    }

    /// <summary>
    /// The counts a device sends for federated permutation importance: rows it got right, and rows it got right with
    /// each of <paramref name="inputs"/> shuffled once (seeded). Summed over devices, (correct − shuffled correct) / rows is
    /// the fleet's importance of the input without any row leaving a device.
    /// </summary>
    public static (long Correct, long[] CorrectShuffled) Counts(IProbabilityModel model, float[] features, long[] labels, IReadOnlyList<int> inputs, int seed)
    {
        var m = model.InputDim;
        var n = labels.Length;
        if (features.Length != n * m) throw new ArgumentException($"expected {n} rows of {m} features", nameof(features));
        var correct = n == 0 ? 0 : Correct(model, features, labels);
        var shuffled = new long[inputs.Count];
        if (n == 0) return (correct, shuffled);
        var random = new Random(seed);
        var permuted = (float[])features.Clone();
        var order = new int[n];
        for (var x = 0; x < inputs.Count; x++)
        {
            var j = inputs[x];
            if ((uint)j >= (uint)m) throw new ArgumentOutOfRangeException(nameof(inputs), j, $"the model has {m} inputs");
            for (var i = 0; i < n; i++) order[i] = i;
            random.Shuffle(order);
            for (var i = 0; i < n; i++) permuted[i * m + j] = features[order[i] * m + j];
            shuffled[x] = Correct(model, permuted, labels);
            for (var i = 0; i < n; i++) permuted[i * m + j] = features[i * m + j];
        }

        return (correct, shuffled);
    }

    /// <summary>Share of rows whose most probable class is the label (ties: the lowest class, as argmax); a row not answered (all zeros) is not right.</summary>
    public static double Accuracy(IProbabilityModel model, float[] features, long[] labels) => (double)Correct(model, features, labels) / labels.Length;

    private static int Correct(IProbabilityModel model, float[] features, long[] labels)
    {
        var probabilities = model.Probabilities(features, labels.Length);
        var classes = model.Classes;
        var correct = 0;
        for (var i = 0; i < labels.Length; i++)
        {
            var row = probabilities.AsSpan(i * classes, classes);
            var best = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(row);
            if (best == labels[i] && row[best] > 0) correct++;
        }

        return correct;
    }
}
