namespace EdgeMlOps.Shared.Explanations;

/// <summary>
/// Shapley values of one prediction against a background set (interventional: absent features take the background
/// rows' values): exact by enumerating every coalition when there are few features, KernelSHAP (Lundberg and Lee 2017)
/// beyond — a weighted regression over sampled coalitions that keeps the efficiency property exactly.
/// </summary>
public static class ShapleyExplainer
{
    public static ShapleyExplanation Explain(IProbabilityModel model, ReadOnlySpan<float> row, float[] background, int backgroundRows, ShapleyOptions? options = null)
    {
        options ??= new ShapleyOptions();
        if (options.Validate() is { Count: > 0 } errors) throw new ArgumentException(string.Join("; ", errors), nameof(options));
        var game = new CoalitionGame(model, row, background, backgroundRows);
        return model.InputDim <= options.ExactUpToFeatures
            ? ExactShapley.Explain(game, backgroundRows)
            : KernelShap.Explain(game, backgroundRows, options);
    }
}

/// <summary>φ_i = Σ over coalitions S without i of |S|!(M−|S|−1)!/M! · (v(S ∪ {i}) − v(S)), over all 2^M coalitions.</summary>
internal static class ExactShapley
{
    public static ShapleyExplanation Explain(CoalitionGame game, int backgroundRows)
    {
        var m = game.Features;
        var classes = game.Classes;
        var coalitions = 1 << m;
        var masks = new bool[coalitions * m];
        for (var s = 0; s < coalitions; s++)
        {
            for (var j = 0; j < m; j++) masks[s * m + j] = (s & (1 << j)) != 0;
        }

        var v = game.Values(masks, coalitions);
        var weight = new double[m]; // weight[|S|] = 1 / (M · C(M−1, |S|))
        for (var size = 0; size < m; size++) weight[size] = 1.0 / (m * Binomial(m - 1, size));
        var values = new double[classes][];
        for (var k = 0; k < classes; k++)
        {
            values[k] = new double[m];
            for (var s = 0; s < coalitions; s++)
            {
                var size = System.Numerics.BitOperations.PopCount((uint)s);
                for (var i = 0; i < m; i++)
                {
                    if ((s & (1 << i)) != 0) continue;
                    values[k][i] += weight[size] * (v[(s | (1 << i)) * classes + k] - v[s * classes + k]);
                }
            }
        }

        return new ShapleyExplanation("exact", coalitions, backgroundRows, v.AsSpan(0, classes).ToArray(), v.AsSpan((coalitions - 1) * classes, classes).ToArray(), values);
    }

    internal static double Binomial(int n, int k)
    {
        var result = 1.0;
        for (var i = 1; i <= k; i++) result = result * (n - k + i) / i;
        return result;
    }
}
