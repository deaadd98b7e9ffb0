using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Shared.Tests.Monitoring;

public class KpiTests
{
    [Fact]
    public void BaselineRules_PredictAsWritten_AndBadRulesAreRefused()
    {
        Assert.Equal(2, BaselineRule.Parse("constant:2").Predict(new float[] { 9 }));
        var threshold = BaselineRule.Parse("threshold:1:0.5:1:0");
        Assert.Equal(1, threshold.Predict(new float[] { 0, 0.7f }));
        Assert.Equal(0, threshold.Predict(new float[] { 9, 0.5f }));
        foreach (var bad in new[] { "always", "constant:x", "threshold:1:nan:1:0", "threshold:1:0.5:1" }) Assert.Throws<FormatException>(() => BaselineRule.Parse(bad));
    }

    [Fact]
    public void Kpis_ComeFromCountersOnly_ForTheModelAndTheBaseline()
    {
        var profile = new WindowProfile(1, 2);
        // (model, truth, baseline): the model gets 3 of 4 right with one false alarm; the always-0 baseline misses both positives.
        foreach (var (predicted, actual, baseline) in new[] { (1L, 1L, 0L), (1L, 1L, 0L), (1L, 0L, 0L), (0L, 0L, 0L) })
        {
            profile.AddPrediction([0f], predicted, 0.9f, TimeSpan.FromMilliseconds(1));
            profile.AddBaselinePrediction(baseline);
            profile.AddOutcome(actual, predicted);
            profile.AddBaselineOutcome(actual, baseline);
        }

        var share = KpiDefinition.Parse("flagged", "share:1", 2);
        Assert.Equal(0.75, share.Evaluate(profile, baseline: false));
        Assert.Equal(0.0, share.Evaluate(profile, baseline: true));
        var accuracy = KpiDefinition.Parse("accuracy", "accuracy", 2);
        Assert.Equal(0.75, accuracy.Evaluate(profile, baseline: false));
        Assert.Equal(0.5, accuracy.Evaluate(profile, baseline: true));

        // A missed positive (1>0) costs 10, a false alarm (0>1) costs 1.
        var cost = KpiDefinition.Parse("cost", "cost:1>0=10,0>1=1", 2);
        Assert.Equal(0.25, cost.Evaluate(profile, baseline: false));
        Assert.Equal(5.0, cost.Evaluate(profile, baseline: true));

        // Merging keeps the baseline's counts, and they survive the wire.
        var copy = WindowProfile.FromProto(profile.ToProto(), 1, 2);
        Assert.Equal(5.0, cost.Evaluate(copy, baseline: true));
        foreach (var bad in new[] { "share:7", "cost:1-0=3", "cost:1>0=x", "median" }) Assert.Throws<FormatException>(() => KpiDefinition.Parse("k", bad, 2));
    }

    [Fact]
    public void SampledPrediction_IsCountedButItsInputsAreNotSketched()
    {
        var profile = new WindowProfile(2, 2);
        profile.AddPrediction([1f, 2f], 1, 0.8f, TimeSpan.FromMilliseconds(1));
        profile.AddPrediction([3f, 4f], 0, 0.6f, TimeSpan.FromMilliseconds(2), sketchFeatures: false);
        Assert.Equal(2, profile.Predictions);
        Assert.Equal(2, profile.Latency.Count);
        Assert.Equal([1L, 1L], profile.PredictedClasses);
        Assert.Equal(1, profile.Features[0].Count);
        Assert.Equal(2.0, profile.Features[1].Mean);
    }
}
