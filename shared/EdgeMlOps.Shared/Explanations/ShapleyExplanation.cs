namespace EdgeMlOps.Shared.Explanations;

/// <summary>How Shapley values are computed: exactly up to a number of features, by KernelSHAP beyond.</summary>
public sealed record ShapleyOptions
{
    /// <summary>Exact enumeration of all 2^M coalitions up to this many features (4,096 coalitions at 12).</summary>
    public int ExactUpToFeatures { get; init; } = 12;

    /// <summary>KernelSHAP coalitions; 0 = SHAP's default 2M + 2048, capped at <see cref="MaxSamples"/>.</summary>
    public int Samples { get; init; }

    /// <summary>Cap on coalitions (bounds the work a request can cause).</summary>
    public int MaxSamples { get; init; } = 4096;

    /// <summary>Seed of the coalition sampler (the same seed gives the same values).</summary>
    public int Seed { get; init; } = 1;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (ExactUpToFeatures is < 0 or > 16) errors.Add($"ExactUpToFeatures must be in [0, 16] (2^16 coalitions), got {ExactUpToFeatures}");
        if (Samples < 0) errors.Add($"Samples must be 0 (automatic) or positive, got {Samples}");
        if (MaxSamples is < 16 or > 1 << 16) errors.Add($"MaxSamples must be in [16, 65536], got {MaxSamples}");
        return errors;
    }
}

/// <summary>
/// Shapley values of one prediction: <see cref="Values"/>[class][feature] is feature's contribution to the class
/// probability; per class, <see cref="BaseValues"/> + the sum of the values = <see cref="Output"/> (efficiency).
/// </summary>
/// <param name="Method"><c>exact</c> or <c>kernel</c>.</param>
/// <param name="Coalitions">Coalitions evaluated (each on every background row).</param>
/// <param name="BackgroundRows">Rows absent features were taken from.</param>
/// <param name="BaseValues">Mean probability per class over the background rows.</param>
/// <param name="Output">The model's probability per class for the explained row.</param>
/// <param name="Values">[class][feature].</param>
public sealed record ShapleyExplanation(string Method, int Coalitions, int BackgroundRows, double[] BaseValues, double[] Output, double[][] Values);
