namespace EdgeMlOps.Aggregator.Rollouts;

/// <summary>Counts for one stage (hawkBit's per-group view).</summary>
public sealed record StageProgress(int Stage, double Share, bool Open, int Targeted, int Installed, int Healthy, int Failed, int RolledBack);

/// <summary>A rollout with its live per-stage progress, the figures the gates compare, and its shadow test (if it has one).</summary>
public sealed record RolloutView(RolloutRecord Rollout, IReadOnlyList<StageProgress> Stages, GateReading Gate, ShadowReading? Shadow = null, ExperimentView? Experiment = null);

/// <summary>The A/B test summed over the devices that ran it: both arms, the test's reading, and the gate's verdict.</summary>
public sealed record ExperimentView(int Devices, long ServedA, long ServedB, long ErrorsB, double? LatencyP95A, double? LatencyP95B, Experiments.ExperimentReading Reading, GateVerdict Verdict)
{
    /// <summary>What the reading compares (its "labelled"/"correct" counts are the metric's observations and their sum, oriented so higher is better).</summary>
    public string Metric { get; init; } = "accuracy";

    /// <summary>What the test randomised: requests, or devices (each device's outcomes one cluster).</summary>
    public Experiments.RandomisationUnit Unit { get; init; }

    /// <summary>Arm A's metric as its user reads it (accuracy, share of class C, mean cost — not oriented).</summary>
    public double? ValueA { get; init; }

    /// <summary>Arm B's metric as its user reads it.</summary>
    public double? ValueB { get; init; }

    /// <summary>Bandit: P(B is the more accurate version) under the posteriors.</summary>
    public double? ProbabilityBBetter { get; init; }

    /// <summary>Bandit: the split the next rebalance sets (null: no rebalance due).</summary>
    public double? NextSplit { get; init; }
}

/// <summary>
/// The shadow test summed over the devices that ran it: requests scored and skipped, agreement with the served
/// version (and its interval), probability distance, latencies, paired accuracy on labelled requests, and the verdict.
/// </summary>
public sealed record ShadowReading(
    int Devices,
    int Failed,
    long Offered,
    long Scored,
    long Skipped,
    long CandidateErrors,
    double? Agreement,
    double? AgreementLower,
    double? AgreementUpper,
    double? MeanDistance,
    double MaxDistance,
    double? IncumbentLatencyP95,
    double? CandidateLatencyP95,
    long Labelled,
    double? IncumbentAccuracy,
    double? CandidateAccuracy,
    double? AccuracyDifferenceLower,
    double? AccuracyDifferenceUpper,
    long CandidateMemoryBytes,
    GateVerdict Verdict)
{
    /// <summary>A regressor's shadow: both versions' mean squared error on the same labelled requests, and the mean absolute difference of their values.</summary>
    public double? IncumbentMse { get; init; }

    public double? CandidateMse { get; init; }

    public double? MeanValueDifference { get; init; }
}

/// <summary>
/// The gate's view of the opened stages against the replaced version. <c>Targeted</c>: the devices the stage waits for —
/// answering, reported, or lost during their health window (not those that went quiet before this version reached them).
/// </summary>
public sealed record GateReading(
    int Reporting,
    int Targeted,
    double FailureRate,
    double? TargetErrorRate,
    double? BaselineErrorRate,
    double? TargetLatencyP95,
    double? BaselineLatencyP95,
    double? TargetAccuracy,
    double? BaselineAccuracy,
    long TargetFeedback,
    long BaselineFeedback,
    GateVerdict Verdict)
{
    /// <summary>A regressor's or multi-label classifier's mean squared error (Brier score) on the target's labelled predictions; null otherwise.</summary>
    public double? TargetSquaredError { get; init; }

    /// <summary>The same on devices still on the replaced version.</summary>
    public double? BaselineSquaredError { get; init; }
}
