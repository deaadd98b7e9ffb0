using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Shared.Tests.Monitoring;

/// <summary>A window profile's output sketches (a regressor's values, label probabilities) and the exact-count test of predicted classes.</summary>
public sealed class OutputSketchTests
{
    [Fact]
    public void OutputSketches_TravelMergeAndFollowTheRowFloor_LikeTheFeatureSketches()
    {
        var a = new WindowProfile(1, 0, outputs: 2);
        var b = new WindowProfile(1, 0, outputs: 2);
        for (var i = 0; i < 40; i++)
        {
            a.AddPrediction([i], -1, float.NaN, TimeSpan.FromMilliseconds(1));
            a.AddOutputs([i, 10 * i]);
            b.AddPrediction([i], -1, float.NaN, TimeSpan.FromMilliseconds(1));
            b.AddOutputs([i + 40, float.NaN]);
        }

        var read = WindowProfile.FromProto(a.ToProto(), 1, 0, outputs: 2);
        read.Merge(WindowProfile.FromProto(b.ToProto(), 1, 0, outputs: 2));
        Assert.Equal((80L, 39.5), (read.Outputs[0].Count, read.Outputs[0].Mean));
        Assert.Equal((40L, 40L, 195.0), (read.Outputs[1].Count, read.Outputs[1].Missing, read.Outputs[1].Mean));
        Assert.Equal(79f, read.Outputs[0].Sketch.Max);

        var quiet = new WindowProfile(1, 0, outputs: 2);
        quiet.AddInputs([1]);
        quiet.AddOutputs([1, 2]);
        Assert.False(quiet.ApplyPolicy(new SketchPolicy(MinRows: 20)));
        Assert.Empty(quiet.ToProto().Outputs); // under the floor, no output leaves either
        Assert.Throws<ArgumentException>(() => quiet.AddOutputs([1]));
        Assert.Throws<ArgumentException>(() => quiet.Merge(new WindowProfile(1, 0, outputs: 3)));
    }

    [Fact]
    public void PredictedClassCounts_AreTestedByChiSquare_AsScipyComputesIt()
    {
        // scipy.stats.chi2_contingency([[80, 60, 60], [120, 40, 40]], correction=False): statistic 16.0, p 0.0003354626279025119
        var drift = DriftStatistics.TestCounts(0, [80, 60, 60], [120, 40, 40], new DriftOptions());
        Assert.Equal(("chisquare", true, 200L, 200L), (drift.Method, drift.Drifted, drift.ReferenceCount, drift.CurrentCount));
        Assert.Equal(0.0003354626279025119, drift.Score, 12);

        var few = DriftStatistics.TestCounts(0, [80, 60, 60], [10, 5, 5], new DriftOptions());
        Assert.True(double.IsNaN(few.Score)); // 20 predictions: under MinCount, not judged
        Assert.Equal("jensenshannon", DriftStatistics.TestCounts(0, [800, 600, 600], [120, 40, 40], new DriftOptions()).Method); // over KsMaxCount
    }
}
