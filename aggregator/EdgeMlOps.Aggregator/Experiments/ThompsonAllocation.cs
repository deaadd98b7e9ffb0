using EdgeMlOps.Shared.Privacy;

namespace EdgeMlOps.Aggregator.Experiments;

/// <summary>Bounds and decisions of a Thompson-sampling rollout (the bandit option of an A/B test).</summary>
public sealed record BanditPolicy
{
    /// <summary>The split never goes below this share of requests to B (the version keeps being observed).</summary>
    public double MinSplit { get; set; } = 0.05;

    /// <summary>…nor above this share (the served version keeps being observed).</summary>
    public double MaxSplit { get; set; } = 0.95;

    /// <summary>Largest change of the split per rebalance: traffic shifts gradually.</summary>
    public double MaxStep { get; set; } = 0.1;

    /// <summary>Labelled predictions (both arms) between rebalances.</summary>
    public long LabelsPerStep { get; set; } = 100;

    /// <summary>The version's accuracy must stay above this (0: no floor): once it is below with 95% probability, the rollout stops.</summary>
    public double GuardrailFloor { get; set; }

    /// <summary>Posterior probability that B is better (or worse) at which the bandit decides.</summary>
    public double DecideAt { get; set; } = 0.99;

    public void Validate()
    {
        if (!(MinSplit > 0 && MinSplit < MaxSplit && MaxSplit < 1)) throw new ArgumentException("bandit: 0 < min split < max split < 1");
        if (!(MaxStep > 0 && MaxStep <= 1)) throw new ArgumentException("bandit: max step must be in (0, 1]");
        if (LabelsPerStep < 1) throw new ArgumentException("bandit: labels per step must be at least 1");
        if (!(GuardrailFloor >= 0 && GuardrailFloor < 1)) throw new ArgumentException("bandit: guardrail floor must be in [0, 1)");
        if (!(DecideAt > 0.5 && DecideAt < 1)) throw new ArgumentException("bandit: decide-at must be in (0.5, 1)");
    }
}

/// <summary>One rebalance of a bandit: when, the split it set, both arms so far, P(B better), and the regret estimated so far.</summary>
public sealed record AllocationPoint(DateTimeOffset At, double Split, long LabelledA, long LabelledB, double? AccuracyA, double? AccuracyB, double ProbabilityBBetter, double Regret);

/// <summary>
/// Thompson sampling over two versions on ground-truth accuracy (pure). Each arm's accuracy has a Beta(1 + correct,
/// 1 + wrong) posterior; Thompson sampling sends a request to B with the probability that B's accuracy is the higher,
/// P(θ_B &gt; θ_A), computed here with the normal approximation of the two posteriors (exact enough beyond a few dozen
/// labels per arm, and deterministic: no random draws at the aggregator). The device split moves toward it by at most
/// <see cref="BanditPolicy.MaxStep"/>, within bounds. Regret — labelled requests sent to the arm with the lower
/// posterior mean, times the gap — is accumulated between rebalances.
/// </summary>
public static class ThompsonAllocation
{
    /// <summary>P(θ_B &gt; θ_A) under the two Beta posteriors (normal approximation).</summary>
    public static double ProbabilityBBetter(long correctA, long labelledA, long correctB, long labelledB)
    {
        var (ma, va) = Posterior(correctA, labelledA);
        var (mb, vb) = Posterior(correctB, labelledB);
        return SpecialFunctions.NormalCdf((mb - ma) / Math.Sqrt(va + vb));
    }

    /// <summary>P(θ_B &lt; floor) under B's posterior (normal approximation).</summary>
    public static double ProbabilityBelow(long correct, long labelled, double floor)
    {
        var (m, v) = Posterior(correct, labelled);
        return SpecialFunctions.NormalCdf((floor - m) / Math.Sqrt(v));
    }

    /// <summary>The next split: toward P(B better) by at most the policy's step, within its bounds.</summary>
    public static double NextSplit(double current, double probabilityBBetter, BanditPolicy policy) =>
        Math.Clamp(current + Math.Clamp(probabilityBBetter - current, -policy.MaxStep, policy.MaxStep), policy.MinSplit, policy.MaxSplit);

    /// <summary>Regret added since <paramref name="last"/>: labels that went to the arm with the lower posterior mean, times the gap.</summary>
    public static double RegretSince(AllocationPoint? last, long correctA, long labelledA, long correctB, long labelledB)
    {
        var gap = Posterior(correctB, labelledB).Mean - Posterior(correctA, labelledA).Mean;
        var newA = labelledA - (last?.LabelledA ?? 0);
        var newB = labelledB - (last?.LabelledB ?? 0);
        return (last?.Regret ?? 0) + (gap > 0 ? newA * gap : newB * -gap);
    }

    private static (double Mean, double Variance) Posterior(long correct, long labelled)
    {
        var a = correct + 1.0;
        var b = labelled - correct + 1.0;
        var mean = a / (a + b);
        return (mean, a * b / ((a + b) * (a + b) * (a + b + 1)));
    }
}
