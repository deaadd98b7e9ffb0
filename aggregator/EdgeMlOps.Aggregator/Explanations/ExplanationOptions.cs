using EdgeMlOps.Shared.Configuration;

namespace EdgeMlOps.Aggregator.Explanations;

/// <summary>
/// How versions are explained on the aggregator's held-out data (<c>Governance:Explain:*</c>) and whether what a version
/// relies on is a gate: permutation importance over <see cref="Rows"/> rows and <see cref="Repeats"/> shuffles, partial
/// dependence of the <see cref="DependenceInputs"/> most important inputs; with <see cref="MinTopInputOverlap"/> above
/// zero, a candidate whose <see cref="TopInputs"/> most important inputs share less than that fraction with the live
/// version's goes to a person for review.
/// </summary>
public sealed record ExplanationOptions
{
    public int Rows { get; init; } = 1000;

    public int Repeats { get; init; } = 3;

    public int DependenceInputs { get; init; } = 4;

    public int GridResolution { get; init; } = 20;

    public int TopInputs { get; init; } = 10;

    public double MinTopInputOverlap { get; init; }

    public int Seed { get; init; } = 1;

    /// <summary>Differential privacy for the importance counts devices send (<c>Governance:Explain:Federated*</c>; off by default).</summary>
    public Evaluation.ImportancePrivacy FederatedPrivacy { get; init; } = new();

    /// <summary>Groups with fewer held-out rows are listed in the card but left out of the gaps.</summary>
    public int MinGroupSamples { get; init; } = 20;

    internal static ExplanationOptions Read(ConfigReader r) => new()
    {
        Rows = r.Int("Governance:Explain:Rows", 1000, 10, 1_000_000),
        Repeats = r.Int("Governance:Explain:Repeats", 3, 1, 100),
        DependenceInputs = r.Int("Governance:Explain:DependenceInputs", 4, 0, 64),
        GridResolution = r.Int("Governance:Explain:GridResolution", 20, 2, 1000),
        TopInputs = r.Int("Governance:Explain:TopInputs", 10, 1, 1000),
        MinTopInputOverlap = r.Double("Governance:Explain:MinTopInputOverlap", 0, 0, 1),
        Seed = r.Int("Governance:Explain:Seed", 1),
        MinGroupSamples = r.Int("Governance:Explain:MinGroupSamples", 20, 1, int.MaxValue),
        FederatedPrivacy = new Evaluation.ImportancePrivacy
        {
            NoiseMultiplier = r.Double("Governance:Explain:FederatedNoiseMultiplier", 0, 0, 1000),
            RowsPerDevice = (ulong)r.Long("Governance:Explain:FederatedRowsPerDevice", (long)Evaluation.ImportancePrivacy.DefaultRowsPerDevice, 1, 1L << 32),
            Delta = r.Double("Governance:Explain:FederatedDelta", Evaluation.ImportancePrivacy.DefaultDelta, 1e-12, 0.1),
        },
    };
}
