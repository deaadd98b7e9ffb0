using EdgeMlOps.Shared.Privacy;

namespace EdgeMlOps.Aggregator.Experiments;

/// <summary>What an A/B test randomises.</summary>
public enum RandomisationUnit
{
    /// <summary>Each request, by a stable hash of its id: both arms on every device, compared within devices.</summary>
    Request,

    /// <summary>
    /// Each device, by a stable hash of its id: all of a device's requests in one arm (users see one version); the
    /// test treats each device's outcomes as one cluster (cluster-robust variance).
    /// </summary>
    Device,
}

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
/// The design of an A/B test: on a proportion (accuracy, a share), the baseline rate of arm A; on a mean (a cost), the
/// standard deviation of one observation; and the smallest difference worth detecting, the false-positive rate α
/// (two-sided) and the power. Fixes the sample size per arm.
/// </summary>
public sealed record ExperimentDesign
{
    public ExperimentMode Mode { get; set; } = ExperimentMode.Sequential;

    /// <summary>Expected accuracy of arm A (the served version), in (0, 1).</summary>
    public double BaselineRate { get; set; } = 0.8;

    /// <summary>Smallest absolute difference worth detecting: in (0, 1) for a proportion, in the metric's units for a mean.</summary>
    public double MinDetectableEffect { get; set; } = 0.05;

    /// <summary>
    /// For a test on a mean (a cost KPI): the expected standard deviation of one observation (the cost of one labelled
    /// prediction), in the metric's units; it sizes the test in place of <see cref="BaselineRate"/>. Null for proportions.
    /// </summary>
    public double? StandardDeviation { get; set; }

    /// <summary>
    /// Tests randomised by device: the expected intraclass correlation ρ of outcomes within one device (how much devices
    /// differ: ρ = between-device variance / total variance), in [0, 1). With <see cref="LabelsPerDevice"/> it inflates
    /// the sample size by the design effect. Null: every label counts as independent (request-randomised tests).
    /// </summary>
    public double? ClusterCorrelation { get; set; }

    /// <summary>Tests randomised by device: the expected labelled observations per device during the test (m ≥ 1).</summary>
    public double? LabelsPerDevice { get; set; }

    /// <summary>
    /// Kish's design effect 1 + (m − 1)ρ: how many more labels a device-randomised test needs than independent ones for
    /// the same power (1 without <see cref="ClusterCorrelation"/> and <see cref="LabelsPerDevice"/>).
    /// </summary>
    public double DesignEffect => ClusterCorrelation is { } rho && LabelsPerDevice is { } m ? 1 + (m - 1) * rho : 1;

    /// <summary>Two-sided false-positive rate.</summary>
    public double Alpha { get; set; } = 0.05;

    /// <summary>Probability of detecting a true difference of <see cref="MinDetectableEffect"/> at the fixed horizon.</summary>
    public double Power { get; set; } = 0.8;

    /// <summary>Throws <see cref="ArgumentException"/> for a design no test could run.</summary>
    public void Validate()
    {
        if ((ClusterCorrelation is null) != (LabelsPerDevice is null)) throw new ArgumentException("experiment: a design effect needs both the cluster correlation and the labels per device");
        if (ClusterCorrelation is { } rho && !(rho >= 0 && rho < 1)) throw new ArgumentException("experiment: the cluster correlation must be in [0, 1)");
        if (LabelsPerDevice is { } m && !(m >= 1 && double.IsFinite(m))) throw new ArgumentException("experiment: the labels per device must be at least 1");
        if (StandardDeviation is { } sd)
        {
            if (!(sd > 0 && double.IsFinite(sd))) throw new ArgumentException("experiment: the standard deviation must be positive");
            if (!(MinDetectableEffect > 0 && double.IsFinite(MinDetectableEffect))) throw new ArgumentException("experiment: the minimum detectable effect must be positive");
            ValidateErrorRates();
            return;
        }

        if (!(BaselineRate > 0 && BaselineRate < 1)) throw new ArgumentException("experiment: baseline rate must be in (0, 1)");
        if (!(MinDetectableEffect > 0 && BaselineRate + MinDetectableEffect < 1 && BaselineRate - MinDetectableEffect > 0)) throw new ArgumentException("experiment: baseline ± minimum detectable effect must stay in (0, 1)");
        ValidateErrorRates();
    }

    private void ValidateErrorRates()
    {
        if (!(Alpha > 0 && Alpha < 0.5)) throw new ArgumentException("experiment: alpha must be in (0, 0.5)");
        if (!(Power >= 0.5 && Power < 1)) throw new ArgumentException("experiment: power must be in [0.5, 1)");
    }

    /// <summary>
    /// Observations needed in each arm to detect a difference of <see cref="MinDetectableEffect"/> with a two-sided
    /// test at <see cref="Alpha"/> and the given <see cref="Power"/>: for a proportion from <see cref="BaselineRate"/>
    /// (the normal approximation for two proportions: pooled variance under the null, separate under the alternative);
    /// for a mean, 2σ²(z₁₋α/₂ + z₁₋β)²/δ² with σ the <see cref="StandardDeviation"/> — times the <see cref="DesignEffect"/>.
    /// </summary>
    public long SampleSizePerArm()
    {
        var za = SpecialFunctions.NormalQuantile(1 - Alpha / 2);
        var zb = SpecialFunctions.NormalQuantile(Power);
        if (StandardDeviation is { } sd)
        {
            var z = (za + zb) * sd / MinDetectableEffect;
            return (long)Math.Ceiling(2 * z * z * DesignEffect);
        }

        var p1 = BaselineRate;
        var p2 = BaselineRate + MinDetectableEffect;
        var pooled = (p1 + p2) / 2;
        var root = za * Math.Sqrt(2 * pooled * (1 - pooled)) + zb * Math.Sqrt(p1 * (1 - p1) + p2 * (1 - p2));
        return (long)Math.Ceiling(root * root / (MinDetectableEffect * MinDetectableEffect) * DesignEffect);
    }

    /// <summary>
    /// Where the test stops at the latest: the sample size for the fixed horizon; twice it for the sequential test,
    /// which pays for being readable at every look with power at any given n (about 49% instead of 80% at the fixed
    /// horizon's n, by simulation) and wins it back by stopping early when the difference is large.
    /// </summary>
    public long HorizonPerArm() => Mode == ExperimentMode.FixedHorizon ? SampleSizePerArm() : 2 * SampleSizePerArm();
}
