namespace EdgeMlOps.Agent.Serving;

/// <summary>
/// What the device allows an explanation to cost (<c>Agent:Explain:*</c>): Shapley values are computed against this
/// many of the device's newest labelled samples as the background, exactly up to a number of inputs and with KernelSHAP
/// over at most this many coalitions beyond. One explanation runs at a time; another request meanwhile gets 429.
/// </summary>
public sealed record ExplanationPolicy
{
    public int BackgroundRows { get; init; } = 16;

    public int ExactUpToFeatures { get; init; } = 10;

    public int MaxCoalitions { get; init; } = 2048;

    /// <summary>
    /// Most predictions a federated evaluation's permutation importance may cost (rows × (asked inputs + 1)); beyond it the
    /// device measures on fewer of its newest rows and says how many.
    /// </summary>
    public int MaxImportancePredictions { get; init; } = 200_000;

    /// <summary>Most values a what-if sweep may ask for.</summary>
    public int MaxSweepValues { get; init; } = 256;
}
