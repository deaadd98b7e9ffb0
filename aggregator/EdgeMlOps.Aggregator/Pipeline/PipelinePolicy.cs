using System.Globalization;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Configuration;

namespace EdgeMlOps.Aggregator.Pipeline;

/// <summary>
/// When the fleet retrains itself and what a retrained version must pass before devices serve it: the declarative
/// policy of the automated retraining pipeline (<c>Aggregator:Pipeline:*</c>; a copy is stored with every run). The
/// defaults are the constants below; <see cref="Errors"/> lists every problem however the policy was made. Settable
/// properties, like <see cref="RolloutRequest"/>'s: JSON that leaves a section out (the admin API's policy) keeps its
/// defaults, where source-generated init-only properties would be set to null.
/// </summary>
public sealed record PipelinePolicy
{
    public const int DefaultRounds = 3;
    public const double DefaultCheckSeconds = 5;
    public const int DefaultApprovals = 1;

    public bool Enabled { get; set; }

    public PipelineTriggerPolicy Triggers { get; set; } = new();

    /// <summary>Federated rounds each run trains, from the deployed version, on the devices' fresh labels.</summary>
    public int Rounds { get; set; } = DefaultRounds;

    /// <summary>Labels the fleet must report after the trigger before the rounds start, so they learn from the new data (0: start at once).</summary>
    public long FreshLabels { get; set; }

    public CandidateGateLimits Gates { get; set; } = new();

    /// <summary>Distinct people who must approve a version that passed the gates before its rollout starts (0: the policy approves; 2: four eyes).</summary>
    public int Approvals { get; set; } = DefaultApprovals;

    /// <summary>The rollout of a version that passed: shadow phase (on the first stage's devices), stages, gates, health window.</summary>
    public RolloutRequest Rollout { get; set; } = DefaultRollout();

    /// <summary>How often the pipeline looks at triggers and at the step it is in.</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromSeconds(DefaultCheckSeconds);

    public static RolloutRequest DefaultRollout() => new() { Stages = [0.05, 0.25, 1.0], Shadow = new ShadowRequest { Share = 0.05 } };

    /// <summary>Every problem with this policy (empty: valid).</summary>
    public IReadOnlyList<string> Errors()
    {
        var errors = new List<string>();
        void Require(bool ok, string key, string message)
        {
            if (!ok) errors.Add($"Pipeline:{key}: {message}");
        }

        Require(Rounds is >= 1 and <= 1000, "Rounds", $"{Rounds} is not in [1, 1000]");
        Require(Approvals is >= 0 and <= 2, "Approvals", $"{Approvals} is not 0, 1 or 2");
        Require(FreshLabels >= 0, "FreshLabels", "must not be negative");
        Require(CheckInterval > TimeSpan.Zero, "CheckSeconds", "must be positive");
        Require(Triggers.AccuracyDrop is >= 0 and < 1, "Triggers:AccuracyDrop", "must be in [0, 1)");
        Require(Triggers.MinOutcomes >= 1 && Triggers.MinPredictions >= 1, "Triggers", "MinOutcomes and MinPredictions must be at least 1");
        Require(Triggers.DriftWindows is >= 1 and <= 100, "Triggers:DriftWindows", $"{Triggers.DriftWindows} is not in [1, 100]");
        Require(Triggers.NewLabels >= 0, "Triggers:NewLabels", "must not be negative");
        Require(Triggers.Schedule >= TimeSpan.Zero && Triggers.Cooldown >= TimeSpan.Zero, "Triggers", "schedule and cooldown must not be negative");
        Require(Triggers.DriftFeatures.All(f => f >= 0), "Triggers:DriftFeatures", "feature indices are not negative");
        Require(Gates.MaxHeldOutDrop is >= 0 and <= 1 && Gates.MaxFederatedDrop is >= 0 and <= 1, "Gates", "accuracy drops are in [0, 1]");
        Require(Gates.MinTopInputOverlap is >= 0 and <= 1, "Gates:MinTopInputOverlap", "must be in [0, 1]");
        Require(Gates.MaxSubgroupGapIncrease >= 0 && Gates.MaxLatencyRatio >= 0 && Gates.MaxMissingShare is >= 0 and <= 1, "Gates", "limits are not negative (shares at most 1)");
        Require(Gates.FederatedDevices >= 0 && Gates.MinTrainingSamples >= 0 && Gates.LatencyRequests >= 0, "Gates", "counts are not negative");
        try
        {
            Rollout.ResolveStages();
            Rollout.Gates.Validate();
            Rollout.Health.Validate();
            Rollout.Shadow?.Validate();
        }
        catch (ArgumentException ex)
        {
            errors.Add("Pipeline:Rollout: " + ex.Message);
        }

        return errors;
    }

    internal static PipelinePolicy Read(ConfigReader r)
    {
        var stagesText = r.String("Pipeline:Rollout:Stages", "0.05,0.25,1");
        var stages = ParseList(stagesText, s => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture), r, "Pipeline:Rollout:Stages");
        var shadowShare = r.Double("Pipeline:Rollout:ShadowShare", 0.05, 0, 1);
        var features = ParseList(r.String("Pipeline:Triggers:DriftFeatures", string.Empty), s => int.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture), r, "Pipeline:Triggers:DriftFeatures");
        var policy = new PipelinePolicy
        {
            Enabled = r.Bool("Pipeline:Enabled", false),
            Rounds = r.Int("Pipeline:Rounds", DefaultRounds, 1, 1000),
            Approvals = r.Int("Pipeline:Approvals", DefaultApprovals, 0, 2),
            FreshLabels = r.Long("Pipeline:FreshLabels", 0, 0, long.MaxValue),
            CheckInterval = TimeSpan.FromSeconds(r.Double("Pipeline:CheckSeconds", DefaultCheckSeconds, 0.05, 3600)),
            Triggers = new PipelineTriggerPolicy
            {
                OnDrift = r.Bool("Pipeline:Triggers:OnDrift", true),
                OnPredictionDrift = r.Bool("Pipeline:Triggers:OnPredictionDrift", false),
                DriftFeatures = features,
                AccuracyDrop = r.Double("Pipeline:Triggers:AccuracyDrop", PipelineTriggerPolicy.DefaultAccuracyDrop, 0, 0.99),
                MinOutcomes = r.Long("Pipeline:Triggers:MinOutcomes", PipelineTriggerPolicy.DefaultMinOutcomes, 1, long.MaxValue),
                MinPredictions = r.Long("Pipeline:Triggers:MinPredictions", PipelineTriggerPolicy.DefaultMinPredictions, 1, long.MaxValue),
                DriftWindows = r.Int("Pipeline:Triggers:DriftWindows", PipelineTriggerPolicy.DefaultDriftWindows, 1, 100),
                NewLabels = r.Long("Pipeline:Triggers:NewLabels", 0, 0, long.MaxValue),
                Schedule = TimeSpan.FromHours(r.Double("Pipeline:Triggers:ScheduleHours", 0, 0, 24 * 366)),
                Cooldown = TimeSpan.FromSeconds(r.Double("Pipeline:Triggers:CooldownSeconds", PipelineTriggerPolicy.DefaultCooldownSeconds, 0, 31_536_000)),
            },
            Gates = new CandidateGateLimits
            {
                MaxHeldOutDrop = r.Double("Pipeline:Gates:MaxHeldOutDrop", CandidateGateLimits.DefaultMaxDrop, 0, 1),
                FederatedDevices = r.Int("Pipeline:Gates:FederatedDevices", 0, 0, 1_000_000),
                MaxFederatedDrop = r.Double("Pipeline:Gates:MaxFederatedDrop", CandidateGateLimits.DefaultMaxDrop, 0, 1),
                MinTopInputOverlap = r.Double("Pipeline:Gates:MinTopInputOverlap", 0, 0, 1),
                MaxSubgroupGapIncrease = r.Double("Pipeline:Gates:MaxSubgroupGapIncrease", 0, 0, 1),
                MaxLatencyRatio = r.Double("Pipeline:Gates:MaxLatencyRatio", CandidateGateLimits.DefaultMaxLatencyRatio, 0, 1000),
                LatencyRequests = r.Int("Pipeline:Gates:LatencyRequests", CandidateGateLimits.DefaultLatencyRequests, 0, 1_000_000),
                MinTrainingSamples = r.Long("Pipeline:Gates:MinTrainingSamples", CandidateGateLimits.DefaultMinTrainingSamples, 0, long.MaxValue),
                MaxMissingShare = r.Double("Pipeline:Gates:MaxMissingShare", CandidateGateLimits.DefaultMaxMissingShare, 0, 1),
            },
            Rollout = new RolloutRequest
            {
                Stages = stages.ToArray(),
                Shadow = shadowShare > 0 ? new ShadowRequest { Share = shadowShare, MinScored = r.Long("Pipeline:Rollout:ShadowMinScored", 200, 1, long.MaxValue) } : null,
                Reason = "retraining pipeline",
            },
        };
        return policy; // its Errors() are reported with the options' (AggregatorOptions.Validate and FromConfiguration)
    }

    private static List<T> ParseList<T>(string text, Func<string, T> parse, ConfigReader r, string key)
    {
        var values = new List<T>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            try
            {
                values.Add(parse(part));
            }
            catch (FormatException)
            {
                r.Require(false, key, $"'{part}' is not a number");
            }
        }

        return values;
    }
}

/// <summary>What starts a pipeline run. Any one enabled trigger suffices; none fires within the cooldown of the last run.</summary>
public sealed record PipelineTriggerPolicy
{
    public const double DefaultAccuracyDrop = 0.05;
    public const long DefaultMinOutcomes = 200;
    public const double DefaultCooldownSeconds = 3600;

    /// <summary>A drift alert on the deployed version (any cohort).</summary>
    public bool OnDrift { get; set; } = true;

    /// <summary>
    /// Prediction drift on the deployed version (its outputs moved from its first production predictions) in a cohort's
    /// last <see cref="DriftWindows"/> windows. Off by default: outputs can move because the world did (more of one
    /// class) with the model still right, and retraining helps only where labels say so.
    /// </summary>
    public bool OnPredictionDrift { get; set; }

    public const long DefaultMinPredictions = 200;
    public const int DefaultDriftWindows = 2;

    /// <summary>Predictions a window needs before its drift test counts.</summary>
    public long MinPredictions { get; set; } = DefaultMinPredictions;

    /// <summary>Consecutive drifted windows of one cohort that start a run.</summary>
    public int DriftWindows { get; set; } = DefaultDriftWindows;

    /// <summary>Only drift on these inputs counts (empty: dataset drift, the monitor's share of drifted inputs, Monitoring:Drift:Share).</summary>
    public IReadOnlyList<int> DriftFeatures { get; set; } = [];

    /// <summary>The deployed version's ground-truth accuracy in a cohort's window falls this far below its own earlier windows (0: off).</summary>
    public double AccuracyDrop { get; set; } = DefaultAccuracyDrop;

    /// <summary>Labelled outcomes a window needs before its accuracy counts.</summary>
    public long MinOutcomes { get; set; } = DefaultMinOutcomes;

    /// <summary>Labels that arrived on the fleet since the last run (0: off).</summary>
    public long NewLabels { get; set; }

    /// <summary>Time since the last run (zero: off).</summary>
    public TimeSpan Schedule { get; set; }

    public TimeSpan Cooldown { get; set; } = TimeSpan.FromSeconds(DefaultCooldownSeconds);
}

/// <summary>What a retrained version must show before its rollout; a zero limit turns a check off where noted.</summary>
public sealed record CandidateGateLimits
{
    public const double DefaultMaxDrop = 0.02;
    public const double DefaultMaxLatencyRatio = 1.5;
    public const int DefaultLatencyRequests = 500;
    public const long DefaultMinTrainingSamples = 100;
    public const double DefaultMaxMissingShare = 0.05;

    /// <summary>Non-inferiority on the aggregator's held-out data: overall and per cohort, no worse than the deployed version by more than this.</summary>
    public double MaxHeldOutDrop { get; set; } = DefaultMaxDrop;

    /// <summary>Devices the federated evaluation of both versions runs on (0: off).</summary>
    public int FederatedDevices { get; set; }

    /// <summary>Non-inferiority on the devices' own labelled data (federated evaluation of both versions).</summary>
    public double MaxFederatedDrop { get; set; } = DefaultMaxDrop;

    /// <summary>Explainability: the candidate's top inputs share at least this fraction with the deployed version's (0: off).</summary>
    public double MinTopInputOverlap { get; set; }

    /// <summary>Fairness: no subgroup accuracy gap may widen by more than this against the deployed version (0: off).</summary>
    public double MaxSubgroupGapIncrease { get; set; }

    /// <summary>Resource use on the reference runtime: candidate p95 latency over the deployed version's, same requests, interleaved (0: off).</summary>
    public double MaxLatencyRatio { get; set; } = DefaultMaxLatencyRatio;

    public int LatencyRequests { get; set; } = DefaultLatencyRequests;

    /// <summary>Data quality: the training samples the candidate's reference profile summarises (0: off).</summary>
    public long MinTrainingSamples { get; set; } = DefaultMinTrainingSamples;

    /// <summary>Data quality: share of missing or non-finite values in any input of the training samples.</summary>
    public double MaxMissingShare { get; set; } = DefaultMaxMissingShare;
}
