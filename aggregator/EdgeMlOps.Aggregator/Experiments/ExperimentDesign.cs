using EdgeMlOps.Shared.Privacy;

namespace EdgeMlOps.Aggregator.Experiments;

/// <summary>How an A/B test reads its result.</summary>
public enum ExperimentMode
{
    /// <summary>The sample size is fixed up front; the result is read once, when both arms reach it.</summary>
    FixedHorizon,

    /// <summary>An always-valid test (mSPRT) read at every check; it may stop early, and stops at twice the fixed horizon at the latest.</summary>
    Sequential,

    /// <summary>Thompson sampling: the split follows the probability that B is the better version, step by step, within bounds.</summary>
    Bandit,
}

/// <summary>
/// The design of an A/B test on a proportion (ground-truth accuracy): the baseline rate of arm A, the smallest
/// difference worth detecting, the false-positive rate α (two-sided) and the power. Fixes the sample size per arm.
/// </summary>
public sealed record ExperimentDesign
{
    public ExperimentMode Mode { get; set; } = ExperimentMode.Sequential;

    /// <summary>Expected accuracy of arm A (the served version), in (0, 1).</summary>
    public double BaselineRate { get; set; } = 0.8;

    /// <summary>Smallest absolute difference in accuracy worth detecting, in (0, 1).</summary>
    public double MinDetectableEffect { get; set; } = 0.05;

    /// <summary>Two-sided false-positive rate.</summary>
    public double Alpha { get; set; } = 0.05;

    /// <summary>Probability of detecting a true difference of <see cref="MinDetectableEffect"/> at the fixed horizon.</summary>
    public double Power { get; set; } = 0.8;

    /// <summary>Throws <see cref="ArgumentException"/> for a design no test could run.</summary>
    public void Validate()
    {
        if (!(BaselineRate > 0 && BaselineRate < 1)) throw new ArgumentException("experiment: baseline rate must be in (0, 1)");
        if (!(MinDetectableEffect > 0 && BaselineRate + MinDetectableEffect < 1 && BaselineRate - MinDetectableEffect > 0)) throw new ArgumentException("experiment: baseline ± minimum detectable effect must stay in (0, 1)");
        if (!(Alpha > 0 && Alpha < 0.5)) throw new ArgumentException("experiment: alpha must be in (0, 0.5)");
        if (!(Power >= 0.5 && Power < 1)) throw new ArgumentException("experiment: power must be in [0.5, 1)");
    }

    /// <summary>
    /// Labelled predictions needed in each arm to detect a difference of <see cref="MinDetectableEffect"/> from
    /// <see cref="BaselineRate"/> with a two-sided test at <see cref="Alpha"/> and the given <see cref="Power"/>
    /// (the normal approximation for two proportions: pooled variance under the null, separate under the alternative).
    /// </summary>
    public long SampleSizePerArm()
    {
        var p1 = BaselineRate;
        var p2 = BaselineRate + MinDetectableEffect;
        var pooled = (p1 + p2) / 2;
        var za = SpecialFunctions.NormalQuantile(1 - Alpha / 2);
        var zb = SpecialFunctions.NormalQuantile(Power);
        var root = za * Math.Sqrt(2 * pooled * (1 - pooled)) + zb * Math.Sqrt(p1 * (1 - p1) + p2 * (1 - p2));
        return (long)Math.Ceiling(root * root / (MinDetectableEffect * MinDetectableEffect));
    }

    /// <summary>
    /// Where the test stops at the latest: the sample size for the fixed horizon; twice it for the sequential test,
    /// which pays for being readable at every look with power at any given n (about 49% instead of 80% at the fixed
    /// horizon's n, by simulation) and wins it back by stopping early when the difference is large.
    /// </summary>
    public long HorizonPerArm() => Mode == ExperimentMode.FixedHorizon ? SampleSizePerArm() : 2 * SampleSizePerArm();
}
