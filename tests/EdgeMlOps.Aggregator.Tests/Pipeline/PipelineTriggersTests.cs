using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Aggregator.Pipeline;
using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Aggregator.Tests.Pipeline;

/// <summary>When the pipeline starts a run: each trigger fires on what it should and stays quiet on noise.</summary>
public class PipelineTriggersTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

    private static DriftReport Report(long window, string cohort = "all", ulong version = 4, int[]? drifted = null, bool dataset = false, long predictions = 1000, long outcomes = 500, double accuracy = 0.95) =>
        new(version, cohort, window, 20, 20, drifted?.Length ?? 0, (drifted?.Length ?? 0) / 20.0, dataset,
            (drifted ?? []).Select(f => new FeatureDrift(f, "ks", 0.01, 0.05, true, 5000, predictions)).ToArray(), predictions, outcomes, accuracy);

    private static PipelinePolicy Policy(PipelineTriggerPolicy? triggers = null) => new() { Enabled = true, Triggers = triggers ?? new PipelineTriggerPolicy() };

    private static PipelineTrigger? Evaluate(PipelinePolicy policy, IReadOnlyList<DriftReport> reports, DateTimeOffset? lastRun = null, long lastWindow = -1) =>
        PipelineTriggers.Evaluate(policy, new TriggerFacts(reports, 4, Now, lastRun, lastWindow));

    [Fact]
    public void DatasetDrift_InTwoConsecutiveWindows_StartsARun_OneWindowOrOneNoisyInputDoesNot()
    {
        Assert.Null(Evaluate(Policy(), [Report(10), Report(11, dataset: true, drifted: [1, 2, 3])]));
        Assert.Null(Evaluate(Policy(), [Report(10, drifted: [7]), Report(11, drifted: [7])])); // one input of twenty: chance
        Assert.Null(Evaluate(Policy(), [Report(9, dataset: true, drifted: [1]), Report(11, dataset: true, drifted: [1])])); // not consecutive
        Assert.Null(Evaluate(Policy(), [Report(10, dataset: true, drifted: [1], predictions: 50), Report(11, dataset: true, drifted: [1])])); // too few rows
        Assert.Null(Evaluate(Policy(), [Report(10, version: 3, dataset: true, drifted: [1]), Report(11, version: 3, dataset: true, drifted: [1])])); // not the deployed version

        var trigger = Evaluate(Policy(), [Report(10, "shifted", dataset: true, drifted: [1, 2]), Report(11, "shifted", dataset: true, drifted: [1, 2])]);
        Assert.Equal("drift", trigger?.Kind);
        Assert.Equal("drift alert on v4 in cohort shifted for 2 windows to 11 (1000 predictions): inputs 1, 2 (2 of 20 drifted)", trigger!.Detail);
    }

    /// <summary>Prediction drift starts a run only when asked to, and then as input drift does: in consecutive windows of enough predictions.</summary>
    [Fact]
    public void PredictionDrift_InConsecutiveWindows_StartsARun_OnlyWhenThePolicyAsks()
    {
        static DriftReport Moved(long window, long predictions = 1000) => Report(window, predictions: predictions) with
        {
            OutputsJudged = 1, ClassOutputs = true, DriftedOutputs = [new FeatureDrift(0, "chisquare", 1e-7, 0.05, true, 240, predictions)],
        };

        Assert.Null(Evaluate(Policy(), [Moved(10), Moved(11)])); // off by default
        var policy = Policy(new PipelineTriggerPolicy { OnPredictionDrift = true, AccuracyDrop = 0 });
        Assert.Null(Evaluate(policy, [Report(10), Moved(11)]));
        Assert.Null(Evaluate(policy, [Moved(10, predictions: 50), Moved(11)])); // too few rows

        var trigger = Evaluate(policy, [Moved(10), Moved(11)]);
        Assert.Equal("prediction-drift", trigger?.Kind);
        Assert.Equal("prediction drift on v4 in cohort all for 2 windows to 11 (1000 predictions): outputs moved from the version's first predictions: predicted classes (chisquare 1E-07)", trigger!.Detail);
    }

    [Fact]
    public void DeclaredInputs_AreTheOnlyOnesThatCount()
    {
        var policy = Policy(new PipelineTriggerPolicy { DriftFeatures = [7], AccuracyDrop = 0 });
        Assert.Equal("drift", Evaluate(policy, [Report(10, drifted: [7]), Report(11, drifted: [3, 7])])?.Kind);
        Assert.Null(Evaluate(policy, [Report(10, dataset: true, drifted: [1, 2, 3]), Report(11, dataset: true, drifted: [1, 2, 3])]));
    }

    [Fact]
    public void AccuracyDrop_MustBeConfident_AgainstTheVersionsEarlierWindows()
    {
        var policy = Policy(new PipelineTriggerPolicy { OnDrift = false, AccuracyDrop = 0.05, MinOutcomes = 100 });
        DriftReport[] History(double newest, long labels) => [Report(1, accuracy: 0.95), Report(2, accuracy: 0.94), Report(3, accuracy: 0.96), Report(4, accuracy: newest, outcomes: labels)];

        Assert.Equal("accuracy", Evaluate(policy, History(0.80, 500))?.Kind);
        Assert.Null(Evaluate(policy, History(0.88, 500)));  // 0.07 below, but the interval reaches above 0.90
        Assert.Null(Evaluate(policy, History(0.80, 50)));   // too few labels to count
        Assert.Null(Evaluate(policy, History(0.80, 500), lastWindow: 4)); // already seen by the last run
        Assert.Null(Evaluate(policy, [Report(3, accuracy: 0.95), Report(4, accuracy: 0.5)])); // no history to compare with
    }

    [Fact]
    public void NewLabels_Schedule_AndCooldown()
    {
        var labels = Policy(new PipelineTriggerPolicy { OnDrift = false, AccuracyDrop = 0, NewLabels = 1000, Cooldown = TimeSpan.FromMinutes(10) });
        Assert.Null(Evaluate(labels, [Report(5, outcomes: 400), Report(6, outcomes: 500)]));
        Assert.Equal("labels", Evaluate(labels, [Report(5, outcomes: 400), Report(6, outcomes: 500), Report(7, outcomes: 200)])?.Kind);
        Assert.Null(Evaluate(labels, [Report(5, outcomes: 4000)], lastWindow: 5));
        Assert.Null(Evaluate(labels, [Report(7, outcomes: 4000)], lastRun: Now.AddMinutes(-5), lastWindow: 5)); // within the cooldown

        var schedule = Policy(new PipelineTriggerPolicy { OnDrift = false, AccuracyDrop = 0, Schedule = TimeSpan.FromHours(24), Cooldown = TimeSpan.Zero });
        Assert.Equal("schedule", Evaluate(schedule, [])?.Kind);
        Assert.Null(Evaluate(schedule, [], lastRun: Now.AddHours(-23)));
        Assert.Equal("schedule", Evaluate(schedule, [], lastRun: Now.AddHours(-25))?.Kind);
    }
}
