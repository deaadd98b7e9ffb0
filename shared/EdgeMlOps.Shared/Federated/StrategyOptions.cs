using EdgeMlOps.Shared.Tensors;

namespace EdgeMlOps.Shared.Federated;

/// <summary>How updates of a round combine.</summary>
public enum AggregationRule
{
    /// <summary>Sample-weighted mean, streamed (FedAvg and the server optimizers).</summary>
    Mean,
    /// <summary>Coordinate-wise median.</summary>
    Median,
    /// <summary>Coordinate-wise β-trimmed mean.</summary>
    TrimmedMean,
    /// <summary>Krum (keep 1) or Multi-Krum (keep m).</summary>
    Krum,
}

/// <summary>
/// Strategy settings. Section <c>Aggregator:Strategy</c>. <see cref="Name"/> picks a preset by
/// Flower's names; the other fields tune it.
/// </summary>
public sealed record StrategyOptions
{
    /// <summary>Every strategy name (<see cref="Presets.StrategyCatalog"/>).</summary>
    public static IReadOnlyList<string> Names => Presets.StrategyCatalog.Names;

    public string Name { get; init; } = "fedavg";

    /// <summary>Server optimizers by name; <see cref="ServerOptimizer"/> takes one of them.</summary>
    public static readonly IReadOnlyList<string> ServerOptimizers = ["sgd", "momentum", "adam", "yogi", "adagrad"];

    /// <summary>
    /// The server optimizer applied to the combined update, or null for the preset's (momentum for fedavgm, adam
    /// for fedadam, …, sgd otherwise). Set it to pair a robust rule with a server optimizer: Krum with server
    /// momentum averages the single update it keeps each round over the recent rounds (Karimireddy et al. 2021
    /// show that history is what lets robust aggregators converge).
    /// </summary>
    public string? ServerOptimizer { get; init; }

    /// <summary>The optimizer in effect: <see cref="ServerOptimizer"/>, else the preset's.</summary>
    public string EffectiveServerOptimizer => ServerOptimizer ?? Preset?.ServerOptimizer ?? "sgd";

    /// <summary>The named strategy, or null for an unknown name (an error of <see cref="Errors"/>).</summary>
    public Presets.StrategyPreset? Preset => Presets.StrategyCatalog.Find(Name);

    /// <summary>FedAvg/FedAvgM server learning rate (1 = McMahan et al.).</summary>
    public double ServerLearningRate { get; init; } = 1.0;

    /// <summary>FedAvgM server momentum β.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>FedAdam/FedYogi/FedAdagrad server learning rate η.</summary>
    public double Eta { get; init; } = 0.01;

    public double Beta1 { get; init; } = 0.9;

    public double Beta2 { get; init; } = 0.99;

    /// <summary>Adaptivity τ (Reddi et al. 2021 found 1e-3 robust).</summary>
    public double Tau { get; init; } = 1e-3;

    /// <summary>FedProx μ: weight of the proximal term (μ/2)‖w − w_global‖² in each device's loss. 0 = off; the fedprox preset defaults to 0.01.</summary>
    public double ProximalMu { get; init; }

    /// <summary>Share trimmed from each end by fedtrimmedavg.</summary>
    public double TrimBeta { get; init; } = 0.2;

    /// <summary>Krum's assumed number of Byzantine updates per round (f).</summary>
    public int ByzantineClients { get; init; } = 1;

    /// <summary>Multi-Krum keeps this many best-scored updates (0 = n − f).</summary>
    public int MultiKrumKeep { get; init; }

    /// <summary>
    /// Robust rules (median, trimmed mean, Krum, Multi-Krum) run on means of this many shuffled updates (Karimireddy
    /// et al. 2022's bucketing; 1 = off). f hostile updates spoil at most f buckets, so Krum's f stays the number of
    /// hostile updates, while the honest inputs vary s times less and the one Krum keeps carries s devices' learning.
    /// The spoiled share of inputs can grow s-fold: Krum's guarantee needs inputs ≥ 2f + 3.
    /// </summary>
    public int BucketSize { get; init; } = 1;

    /// <summary>How devices encode updates: fp32, fp16, int8, topk:FRACTION (error feedback on unless ',no-ef').</summary>
    public CompressionSettings Compression { get; init; } = new(Protocol.V1.TensorEncoding.Float32Le);

    /// <summary>Updates with an L2 norm above this are refused (0 = no limit; DP sets its own).</summary>
    public double MaxUpdateNorm { get; init; }

    /// <summary>FedBuff staleness weight (1 + τ)^−a; 0.5 as Nguyen et al. 2022.</summary>
    public double StalenessExponent { get; init; } = 0.5;

    /// <summary>
    /// Weighted means summed in 128-bit fixed point, independent of the order updates arrive in: the same updates give
    /// the same version bit for bit (what <c>reproduce</c> needs; the simulator turns it on). Off: fp32 staging at memory
    /// speed, last bits depending on arrival order.
    /// </summary>
    public bool ExactSum { get; init; }

    /// <summary>Threads used by the robust aggregators.</summary>
    public int MaxParallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>Differential privacy, or null for none.</summary>
    public DpOptions? Dp { get; init; }

    public AggregationRule Rule => Preset?.Rule ?? AggregationRule.Mean;

    /// <summary>Every problem with these settings (empty when valid).</summary>
    public IEnumerable<string> Errors()
    {
        if (!Names.Contains(Name)) yield return $"Strategy:Name '{Name}' is not one of {string.Join(", ", Names)}";
        if (ServerOptimizer is { } optimizer && !ServerOptimizers.Contains(optimizer)) yield return $"Strategy:ServerOptimizer '{optimizer}' is not one of {string.Join(", ", ServerOptimizers)}";
        if (!(ServerLearningRate > 0)) yield return "Strategy:ServerLearningRate must be > 0";
        if (Momentum is < 0 or >= 1) yield return "Strategy:Momentum must be in [0, 1)";
        if (!(Eta > 0)) yield return "Strategy:Eta must be > 0";
        if (Beta1 is < 0 or >= 1 || Beta2 is <= 0 or >= 1) yield return "Strategy:Beta1 must be in [0, 1) and Beta2 in (0, 1)";
        if (!(Tau > 0)) yield return "Strategy:Tau must be > 0";
        if (ProximalMu < 0 || !double.IsFinite(ProximalMu)) yield return "Strategy:ProximalMu must be ≥ 0";
        if (TrimBeta is < 0 or >= 0.5) yield return "Strategy:TrimBeta must be in [0, 0.5)";
        if (ByzantineClients < 0) yield return "Strategy:ByzantineClients must be ≥ 0";
        if (MultiKrumKeep < 0) yield return "Strategy:MultiKrumKeep must be ≥ 0";
        if (BucketSize < 1) yield return "Strategy:BucketSize must be ≥ 1";
        if (BucketSize > 1 && Rule == AggregationRule.Mean) yield return "Strategy:BucketSize applies to fedmedian, fedtrimmedavg, krum and multikrum (a mean needs no buckets)";
        if (MaxUpdateNorm < 0) yield return "Strategy:MaxUpdateNorm must be ≥ 0";
        if (StalenessExponent < 0) yield return "Strategy:StalenessExponent must be ≥ 0";
        if (Dp is { } dp)
        {
            foreach (var e in dp.Errors()) yield return e;
            if (Rule != AggregationRule.Mean) yield return "Strategy:Dp needs a mean aggregation (fedavg, fedprox, fedavgm, fedadam, fedyogi, fedadagrad)";
        }
    }
}

/// <summary>
/// User-level DP-FedAvg (McMahan et al. 2018) with server-side clipping: each update is clipped
/// to L2 norm C, updates count equally, the sum gets N(0, (zC)²) noise and is divided by the
/// round's target. Section <c>Aggregator:Strategy:Dp</c>.
/// </summary>
public sealed record DpOptions
{
    /// <summary>z: noise standard deviation in units of the clip norm.</summary>
    public double NoiseMultiplier { get; init; } = 1.0;

    /// <summary>C (the starting value when adaptive).</summary>
    public double ClipNorm { get; init; } = 1.0;

    /// <summary>Adapt C towards a quantile of update norms (Andrew et al. 2021).</summary>
    public bool AdaptiveClipping { get; init; }

    /// <summary>γ: share of updates that should fall under the clip.</summary>
    public double TargetQuantile { get; init; } = 0.5;

    /// <summary>η_C in C ← C · exp(−η_C (b̄ − γ)).</summary>
    public double ClipLearningRate { get; init; } = 0.2;

    /// <summary>σ_b, noise on the count of clipped updates (0 = target / 20, as Andrew et al.).</summary>
    public double ClippedCountStddev { get; init; }

    public double Delta { get; init; } = 1e-5;

    /// <summary>Stop training before ε at <see cref="Delta"/> would exceed this (0 = report only).</summary>
    public double EpsilonBudget { get; init; }

    /// <summary>Updates with norm above this many clips are refused outright rather than clipped.</summary>
    public double RejectNormAboveClips { get; init; } = 1000;

    /// <summary>
    /// Seed for the noise, for simulations that must reproduce a run; such noise is not private (the seed
    /// can be searched). Null (the default, and the only setting for a real fleet) draws every noise value
    /// from the operating system's CSPRNG.
    /// </summary>
    public ulong? NoiseSeed { get; init; }

    public IEnumerable<string> Errors()
    {
        if (!(NoiseMultiplier >= 0)) yield return "Strategy:Dp:NoiseMultiplier must be ≥ 0";
        if (!(ClipNorm > 0)) yield return "Strategy:Dp:ClipNorm must be > 0";
        if (TargetQuantile is <= 0 or >= 1) yield return "Strategy:Dp:TargetQuantile must be in (0, 1)";
        if (!(ClipLearningRate > 0)) yield return "Strategy:Dp:ClipLearningRate must be > 0";
        if (ClippedCountStddev < 0) yield return "Strategy:Dp:ClippedCountStddev must be ≥ 0";
        if (Delta is <= 0 or >= 1) yield return "Strategy:Dp:Delta must be in (0, 1)";
        if (EpsilonBudget < 0) yield return "Strategy:Dp:EpsilonBudget must be ≥ 0";
        if (!(RejectNormAboveClips > 1)) yield return "Strategy:Dp:RejectNormAboveClips must be > 1";
        if (AdaptiveClipping && NoiseMultiplier > 0)
        {
            var sigmaB = ClippedCountStddev;
            if (sigmaB > 0 && 2 * sigmaB <= NoiseMultiplier) yield return "Strategy:Dp:ClippedCountStddev must exceed NoiseMultiplier / 2";
        }
    }
}
