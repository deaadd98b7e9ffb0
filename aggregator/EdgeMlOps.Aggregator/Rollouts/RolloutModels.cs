using System.Text.Json.Serialization;

namespace EdgeMlOps.Aggregator.Rollouts;

/// <summary>
/// What an operator asks for when creating a rollout (the admin API's request body). Settable
/// properties: the JSON source generator keeps the defaults of members a request leaves out.
/// </summary>
public sealed record RolloutRequest
{
    public ulong Version { get; set; }

    /// <summary>Device tag -> allowed values (e.g. hw: [pi4, jetson]); empty: the whole fleet.</summary>
    public Dictionary<string, string[]> Cohort { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Cumulative shares per stage, e.g. [0.01, 0.1, 0.5, 1]. Ignored when <see cref="Exponential"/> is set.</summary>
    public double[] Stages { get; set; } = [0.01, 0.1, 0.5, 1.0];

    /// <summary>AWS-IoT-Jobs-like exponential rate: start share and growth factor per stage, up to 100%.</summary>
    public ExponentialRate? Exponential { get; set; }

    public RolloutGates Gates { get; set; } = new();

    /// <summary>A shadow phase before the first stage (null: none): the shadow share scores requests with the version without serving it.</summary>
    public ShadowRequest? Shadow { get; set; }

    /// <summary>An A/B test before the first stage, after the shadow if there is one (null: none).</summary>
    public ExperimentRequest? Experiment { get; set; }

    public HealthWindow Health { get; set; } = new();

    /// <summary>Open the next stage by itself when the gates pass (approval is still needed beyond the canary).</summary>
    public bool AutoAdvance { get; set; } = true;

    public string Reason { get; set; } = string.Empty;

    /// <summary>The most stages a rollout may have: each is a signed plan, a gate and an approval beyond the canary.</summary>
    public const int MaxStages = 100;

    /// <summary>The stages this request resolves to, or the reason they are invalid.</summary>
    public double[] ResolveStages()
    {
        if (Exponential is { } e)
        {
            if (!(e.Start > 0 && e.Start <= 1) || !(e.Factor > 1)) throw new ArgumentException("exponential rate needs 0 < start <= 1 and factor > 1");
            var count = Math.Ceiling(Math.Log(1 / e.Start) / Math.Log(e.Factor)) + 1; // the shares below 100 %, then 100 %
            if (!(count <= MaxStages))
            {
                throw new ArgumentException(FormattableString.Invariant($"an exponential rate from {e.Start} by {e.Factor} makes {count:N0} stages; a rollout has at most {MaxStages}"));
            }

            var stages = new List<double>();
            for (var share = e.Start; share < 1; share *= e.Factor) stages.Add(share);
            stages.Add(1.0);
            return stages.ToArray();
        }

        if (Stages.Length > MaxStages) throw new ArgumentException($"{Stages.Length} stages; a rollout has at most {MaxStages}");
        if (Stages.Length == 0 || Stages.Any(s => !(s > 0 && s <= 1)) || Stages.Zip(Stages.Skip(1)).Any(p => p.Second <= p.First))
        {
            throw new ArgumentException("stages must be increasing shares in (0, 1]");
        }

        return Stages;
    }
}

public sealed record ExponentialRate(double Start, double Factor);

/// <summary>Gates between stages (hawkBit / AWS IoT Jobs abort criteria), judged on the stages opened so far.</summary>
public sealed record RolloutGates
{
    /// <summary>Devices that must have finished their health window (healthy, failed or rolled back) before a stage can pass.</summary>
    public int MinDevicesReporting { get; set; } = 1;

    /// <summary>Share of targeted online devices that must have reported before a stage can pass.</summary>
    public double MinReportingFraction { get; set; } = 0.8;

    /// <summary>Failed or rolled-back share of reporting devices above which the rollout aborts.</summary>
    public double MaxFailureRate { get; set; } = 0.05;

    /// <summary>Inference error rate on the target above the replaced version's plus this aborts.</summary>
    public double MaxErrorRateIncrease { get; set; } = 0.01;

    /// <summary>Median device p95 latency on the target above this multiple of the replaced version's aborts (0: off).</summary>
    public double MaxLatencyP95Ratio { get; set; } = 2.0;

    /// <summary>Milliseconds the version's p95 must also exceed the baseline's by before the latency ratio counts (<see cref="LatencyLimit"/>).</summary>
    public double MinLatencyIncreaseMs { get; set; } = LatencyLimit.DefaultMinIncreaseMs;

    /// <summary>
    /// Ground-truth accuracy on the target below the replaced version's minus this aborts. Judged as a test on the
    /// difference (<see cref="AccuracyComparison"/>): abort when it is below −drop with <see cref="AccuracyConfidence"/>,
    /// pass when it is above −drop with that confidence, wait for more labelled predictions in between.
    /// </summary>
    public double MaxAccuracyDrop { get; set; } = 0.05;

    /// <summary>One-sided confidence of the accuracy gate's pass and abort decisions.</summary>
    public double AccuracyConfidence { get; set; } = 0.95;

    /// <summary>
    /// Labelled predictions needed on each side before accuracy (or squared error) is compared; a stage with devices
    /// on both sides waits for them on both before it can pass.
    /// </summary>
    public int MinFeedback { get; set; } = 50;

    /// <summary>
    /// A device tag (e.g. <c>hw</c>) whose values stratify the accuracy gate: the target is compared with the replaced
    /// version within each value and the differences combined (<see cref="AccuracyComparison.JudgeStratified"/>), and a
    /// stratum where the target is confidently worse fails the stage by itself (at a Bonferroni-adjusted confidence).
    /// Null: one pooled comparison.
    /// </summary>
    public string? StratifyBy { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> for gates no stage could be judged by.</summary>
    public void Validate()
    {
        if (StratifyBy is { } tag && (tag.Length is 0 or > 64 || tag.Any(char.IsControl))) throw new ArgumentException("gates: stratifyBy must be a device tag key (1 to 64 printable characters)");
        if (!(AccuracyConfidence >= 0.5 && AccuracyConfidence < 1)) throw new ArgumentException("gates: accuracy confidence must be in [0.5, 1)");

        // A NaN limit would pass every stage: each is a share in [0, 1].
        if (!(MaxFailureRate >= 0 && MaxFailureRate <= 1) || !(MaxErrorRateIncrease >= 0 && MaxErrorRateIncrease <= 1) || !(MaxAccuracyDrop >= 0 && MaxAccuracyDrop <= 1))
        {
            throw new ArgumentException(FormattableString.Invariant($"gates: maxFailureRate ({MaxFailureRate}), maxErrorRateIncrease ({MaxErrorRateIncrease}) and maxAccuracyDrop ({MaxAccuracyDrop}) are shares in [0, 1]"));
        }

        LatencyLimit.Validate("gates", MaxLatencyP95Ratio, MinLatencyIncreaseMs);

        // Fail closed: a stage must never pass on no data (every targeted device partitioned off, say).
        if (MinDevicesReporting < 1) throw new ArgumentException("gates: minDevicesReporting must be at least 1 (a stage never passes with no device reporting)");
        if (!(MinReportingFraction > 0 && MinReportingFraction <= 1)) throw new ArgumentException("gates: minReportingFraction must be in (0, 1]");
    }
}

/// <summary>
/// The shadow phase of a rollout (SageMaker's shadow variants, on the devices): who shadows, how much of each device it
/// may use, and what the shadow gate needs before it promotes the version to the first stage or stops the rollout.
/// Accuracy is judged with the rollout's <see cref="RolloutGates.MaxAccuracyDrop"/>, <see cref="RolloutGates.AccuracyConfidence"/>
/// and <see cref="RolloutGates.MinFeedback"/>, as a paired comparison on the same requests.
/// </summary>
public sealed record ShadowRequest
{
    /// <summary>Share of the cohort that shadows (devices of the first stage first), in (0, 1].</summary>
    public double Share { get; set; } = 0.05;

    /// <summary>Share of each device's served requests scored by the version, in (0, 1].</summary>
    public double SampleRate { get; set; } = 1.0;

    /// <summary>Upper bound of scoring time as a share of one core's wall-clock time, in (0, 1].</summary>
    public double MaxCpuShare { get; set; } = 0.25;

    /// <summary>Requests waiting to be scored per device; beyond it they are skipped and counted.</summary>
    public int MaxPending { get; set; } = 64;

    /// <summary>Devices that must be shadowing before the gate judges.</summary>
    public int MinDevices { get; set; } = 1;

    /// <summary>Scored requests (all shadowing devices) needed before the gate judges.</summary>
    public long MinScored { get; set; } = 200;

    /// <summary>
    /// Share of scored requests where both versions choose the same class that the version must reach when there is too
    /// little ground truth to judge accuracy (0: not judged); a Wilson interval at the gates' confidence. With enough
    /// labelled pairs accuracy decides: a version that disagrees because it is better passes.
    /// </summary>
    public double MinAgreement { get; set; }

    /// <summary>Median over devices of the version's p95 latency over the served version's, on the same requests, above which the gate fails (0: off).</summary>
    public double MaxLatencyP95Ratio { get; set; } = 2.0;

    /// <summary>Milliseconds the version's p95 must also exceed the baseline's by before the latency ratio counts (<see cref="LatencyLimit"/>).</summary>
    public double MinLatencyIncreaseMs { get; set; } = LatencyLimit.DefaultMinIncreaseMs;

    /// <summary>Share of scored requests the version may fail on.</summary>
    public double MaxErrorRate { get; set; } = 0.01;

    /// <summary>Wait for <see cref="RolloutGates.MinFeedback"/> labelled pairs (false: judge accuracy only if they arrive).</summary>
    public bool RequireLabels { get; set; } = true;

    /// <summary>Promote to the first stage by itself when the shadow gate passes.</summary>
    public bool AutoPromote { get; set; } = true;

    /// <summary>Throws <see cref="ArgumentException"/> for a shadow no device could run.</summary>
    public void Validate()
    {
        if (!(Share > 0 && Share <= 1)) throw new ArgumentException("shadow: share must be in (0, 1]");
        if (!(SampleRate > 0 && SampleRate <= 1)) throw new ArgumentException("shadow: sample rate must be in (0, 1]");
        if (!(MaxCpuShare > 0 && MaxCpuShare <= 1)) throw new ArgumentException("shadow: max CPU share must be in (0, 1]");
        if (MaxPending is < 1 or > 4096) throw new ArgumentException("shadow: max pending must be in [1, 4096]");
        if (!(MinAgreement >= 0 && MinAgreement <= 1)) throw new ArgumentException("shadow: min agreement must be in [0, 1]");
        if (MinDevices < 1 || MinScored < 1) throw new ArgumentException("shadow: min devices and min scored must be at least 1");
        LatencyLimit.Validate("shadow", MaxLatencyP95Ratio, MinLatencyIncreaseMs);
    }
}

/// <summary>
/// The A/B test of a rollout: which devices take part, the share of their requests the version answers (split by a
/// stable hash of each request's id, so arms are balanced within every device), and the design of the test on
/// ground-truth accuracy. A significantly worse version stops the rollout; a significantly better one — or none
/// significantly different once the horizon is reached — opens the first stage.
/// </summary>
public sealed record ExperimentRequest
{
    /// <summary>Share of the cohort that takes part (devices of the first stage first), in (0, 1].</summary>
    public double Share { get; set; } = 0.1;

    /// <summary>Share of each device's requests answered by the version (arm B), in (0, 1); with <see cref="Unit"/> Device, the share of the test's devices that answer with it.</summary>
    public double Split { get; set; } = 0.5;

    /// <summary>What is randomised: each request (default) or each device (every request of a device in one arm).</summary>
    public Experiments.RandomisationUnit Unit { get; set; } = Experiments.RandomisationUnit.Request;

    public Experiments.ExperimentDesign Design { get; set; } = new();

    /// <summary>Bounds and decisions when <see cref="Experiments.ExperimentDesign.Mode"/> is Bandit.</summary>
    public Experiments.BanditPolicy Bandit { get; set; } = new();

    /// <summary>Open the first stage when the horizon is reached without a significant difference (false: wait for an operator).</summary>
    public bool PromoteWithoutDifference { get; set; } = true;

    /// <summary>
    /// The test stops when the version's p95 latency exceeds this multiple of the served version's on significantly
    /// more than half of the devices in the test (a sign test across devices, each comparing its own two arms; 0: off).
    /// </summary>
    public double MaxLatencyP95Ratio { get; set; } = 2.0;

    /// <summary>Milliseconds the version's p95 must also exceed the baseline's by before the latency ratio counts (<see cref="LatencyLimit"/>).</summary>
    public double MinLatencyIncreaseMs { get; set; } = LatencyLimit.DefaultMinIncreaseMs;

    /// <summary>
    /// What the test (and the bandit) compares: <c>accuracy</c> (ground truth), a share KPI <c>share:C</c> — the
    /// share of requests answered with class C — or a cost KPI <c>cost:TRUE&gt;PREDICTED=COST,…</c>, the mean cost per
    /// labelled prediction (sequential and fixed-horizon tests only, sized by <see cref="Experiments.ExperimentDesign.StandardDeviation"/>),
    /// or for a regressor or multi-label classifier <c>mse</c>: the mean squared error per labelled prediction (lower is better).
    /// <see cref="HigherIsBetter"/> says which way is better.
    /// </summary>
    public string Metric { get; set; } = "accuracy";

    public bool HigherIsBetter { get; set; } = true;

    /// <summary>Throws <see cref="ArgumentException"/> for a test no device could run.</summary>
    public void Validate()
    {
        var metric = Experiments.ExperimentMetric.Parse(Metric);
        if (metric.IsMean && Design.StandardDeviation is null) throw new ArgumentException($"experiment: metric '{Metric}' is a mean; the design needs its standard deviation per observation (CLI --ab-sd) to size the test");
        if (!metric.IsMean && Design.StandardDeviation is not null) throw new ArgumentException($"experiment: a standard deviation sizes tests on a mean (a cost KPI); '{metric.Name}' is a proportion, sized by its baseline rate");
        if (metric.IsMean && Design.Mode == Experiments.ExperimentMode.Bandit) throw new ArgumentException($"experiment: the bandit compares proportions (accuracy or share:C); '{metric.Name}' is a mean and runs as a sequential or fixed-horizon test");
        if (metric.Kind == Experiments.MetricKind.SquaredError && HigherIsBetter) throw new ArgumentException("experiment: a lower mean squared error is better: set higherIsBetter false (CLI --ab-lower-is-better)");
        if (Design.ClusterCorrelation is not null && Unit != Experiments.RandomisationUnit.Device) throw new ArgumentException("experiment: a design effect (cluster correlation and labels per device) sizes tests randomised by device (unit Device, CLI --ab-unit device); a request-randomised test compares arms within each device");
        if (!(Share > 0 && Share <= 1)) throw new ArgumentException("experiment: share must be in (0, 1]");
        if (!(Split > 0 && Split < 1)) throw new ArgumentException("experiment: split must be in (0, 1)");
        LatencyLimit.Validate("experiment", MaxLatencyP95Ratio, MinLatencyIncreaseMs);
        Design.Validate();
        Bandit.Validate();
    }
}

/// <summary>How each device judges the version after switching (carried in the signed plan).</summary>
public sealed record HealthWindow
{
    public int WindowSeconds { get; set; } = 60;

    public int MinPredictions { get; set; }

    public double MaxErrorRate { get; set; } = 0.01;

    public double LatencyBudgetP95Ms { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> for a window devices would refuse (they check the signed plan by the same rule).</summary>
    public void Validate()
    {
        if (WindowSeconds < 0 || MinPredictions < 0) throw new ArgumentException("health: windowSeconds and minPredictions must not be negative");
        if (Shared.Trust.TrustVerifier.HealthPolicyProblem(new Shared.Protocol.V1.HealthPolicy
            {
                WindowSeconds = (uint)WindowSeconds, MinPredictions = (uint)MinPredictions, MaxErrorRate = MaxErrorRate, LatencyBudgetP95Ms = LatencyBudgetP95Ms,
            }) is { } problem)
        {
            throw new ArgumentException("health: " + problem);
        }
    }
}

public enum RolloutStatusKind
{
    Active,
    Paused,
    Aborted,
    Completed,

    /// <summary>Before the first stage: devices of the shadow share score with the version without serving it.</summary>
    Shadow,

    /// <summary>Before the first stage: devices of the experiment share answer a split of their requests with the version (A/B test).</summary>
    Experiment,
}

/// <summary>A rollout as stored: the request, who made it, and where it stands.</summary>
public sealed record RolloutRecord
{
    public required string Id { get; init; }

    public required string Model { get; init; }

    public required RolloutRequest Request { get; init; }

    public required double[] Stages { get; init; }

    /// <summary>The deployed version being replaced (0: none).</summary>
    public ulong PreviousVersion { get; init; }

    public required string CreatedBy { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public RolloutStatusKind State { get; init; } = RolloutStatusKind.Active;

    public int Stage { get; init; }

    public ulong Revision { get; init; } = 1;

    /// <summary>Why the rollout is where it is (gate outcome, abort reason, waiting for approval).</summary>
    public string Note { get; init; } = string.Empty;

    /// <summary>The A/B test's split now, when a bandit moved it from the request's (null: the request's).</summary>
    public double? Split { get; init; }

    /// <summary>The bandit's rebalances so far: split, arms, P(B better) and regret over time.</summary>
    public IReadOnlyList<Experiments.AllocationPoint> Allocation { get; init; } = [];
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, PropertyNameCaseInsensitive = true, UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RolloutRecord))]
[JsonSerializable(typeof(RolloutRequest))]
[JsonSerializable(typeof(RolloutView))]
[JsonSerializable(typeof(ShadowRequest))]
[JsonSerializable(typeof(ExperimentRequest))]
[JsonSerializable(typeof(List<RolloutView>))]
internal sealed partial class RolloutJson : JsonSerializerContext;
