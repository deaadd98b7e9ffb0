using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Aggregator.Tests.Monitoring;

/// <summary>
/// Prediction drift: each window's outputs — a classifier's predicted classes, a regressor's values, a multi-label
/// classifier's label probabilities — against the version's first fleet-wide windows (until they hold 200
/// predictions), beside the feature tests. What moved is named; what did not stays quiet; a version is judged against
/// its own outputs only. Windows are evaluated in time order, as the drift watch does.
/// </summary>
public sealed class PredictionDriftTests
{
    /// <summary>A device window of <paramref name="rows"/> predictions: two inputs around 0, output values around <paramref name="centres"/>.</summary>
    private static WindowProfile Values(double[] centres, int rows, int seed)
    {
        var random = new Random(seed);
        var profile = new WindowProfile(2, 0, outputs: centres.Length);
        for (var i = 0; i < rows; i++)
        {
            profile.AddPrediction([(float)random.NextDouble(), (float)random.NextDouble()], -1, float.NaN, TimeSpan.FromMilliseconds(1));
            profile.AddOutputs(centres.Select(c => (float)(c + random.NextDouble() - 0.5)).ToArray());
        }

        return profile;
    }

    /// <summary>A classifier's window: predictions spread over its classes by <paramref name="shares"/>.</summary>
    private static WindowProfile Classes(double[] shares, int rows, int seed)
    {
        var random = new Random(seed);
        var profile = new WindowProfile(2, shares.Length);
        for (var i = 0; i < rows; i++)
        {
            var (u, label) = (random.NextDouble(), 0);
            while (label < shares.Length - 1 && u >= shares[label]) u -= shares[label++];
            profile.AddPrediction([(float)random.NextDouble(), (float)random.NextDouble()], label, 0.9f, TimeSpan.FromMilliseconds(1));
        }

        return profile;
    }

    [Fact]
    public void ARegressorsValues_AreJudgedAgainstItsFirstProductionValues_AndAShiftIsNamed()
    {
        var monitor = new FleetMonitor(new MonitoringOptions(), features: 2, classes: 0, outputs: 1);
        monitor.Add(1, "all", 10, Values([2.0], 150, 1));
        Assert.Empty(monitor.Evaluate(10)); // 150 of the 200 predictions a reference needs: nothing to judge yet
        monitor.Add(1, "all", 11, Values([2.0], 150, 2));
        Assert.Null(monitor.PredictionReference(1)); // formed from evaluated windows only
        Assert.Equal((1, false), Assert.Single(monitor.Evaluate(11)) is var formed ? (formed.OutputsJudged, formed.PredictionDrift) : default);
        Assert.Equal(300, monitor.PredictionReference(1)!.Outputs[0].Count); // windows 10 and 11, whole

        monitor.Add(1, "all", 12, Values([2.0], 300, 3));
        var steady = Assert.Single(monitor.Evaluate(12));
        Assert.Equal((1, false, "none", 0), (steady.OutputsJudged, steady.PredictionDrift, steady.Reference, steady.Judged)); // no training reference: only predictions judged

        monitor.Add(1, "all", 13, Values([2.4], 300, 4));
        var moved = Assert.Single(monitor.Evaluate(13));
        Assert.True(moved.PredictionDrift);
        var output = Assert.Single(moved.DriftedOutputs);
        Assert.Equal((0, "ks"), (output.Feature, output.Method));
        Assert.True(output.Score < 1e-6, $"p = {output.Score}");
        Assert.False(moved.ClassOutputs);
    }

    [Fact]
    public void AMultiLabelClassifier_NamesTheOneLabelWhoseProbabilitiesMoved()
    {
        var monitor = new FleetMonitor(new MonitoringOptions(), features: 2, classes: 0, outputs: 4);
        monitor.Add(3, "all", 20, Values([0.2, 0.5, 0.5, 0.8], 400, 1));
        monitor.Evaluate(20);
        monitor.Add(3, "all", 21, Values([0.2, 0.5, 0.5, 0.8], 400, 2));
        var steady = Assert.Single(monitor.Evaluate(21));
        Assert.Equal((4, false), (steady.OutputsJudged, steady.PredictionDrift));

        monitor.Add(3, "all", 22, Values([0.2, 0.5, 0.75, 0.8], 400, 3));
        Assert.Equal([2], Assert.Single(monitor.Evaluate(22)).DriftedOutputs.Select(o => o.Feature));
    }

    /// <summary>
    /// A/A: windows from the reference's own distribution. Judged output by output at 5% each, a model with 16 labels
    /// would raise an alarm in ~56% of its windows; held together (Bonferroni) it stays at about 5%.
    /// </summary>
    [Fact]
    public void SteadyOutputs_RaiseFalseAlarmsAtAboutTheTestsLevel_HoweverManyLabels()
    {
        const int Windows = 200;
        var centres = Enumerable.Range(0, 16).Select(o => o / 16.0).ToArray();
        var monitor = new FleetMonitor(new MonitoringOptions(), features: 2, classes: 0, outputs: centres.Length);
        monitor.Add(1, "all", 0, Values(centres, 300, 0));
        monitor.Evaluate(0);
        var alarms = 0;
        for (var w = 1; w <= Windows; w++)
        {
            monitor.Add(1, "all", w, Values(centres, 300, w));
            if (monitor.Evaluate(w).Single().PredictionDrift) alarms++;
        }

        // 5% of 200 is 10; three standard deviations above is 19.
        Assert.InRange(alarms, 0, 19);
    }

    [Fact]
    public void AClassifiersPredictedClasses_AreTestedAsCounts_AndAShiftedMixIsPredictionDrift()
    {
        var monitor = new FleetMonitor(new MonitoringOptions(), features: 2, classes: 3);
        monitor.Add(2, "all", 5, Classes([0.34, 0.33, 0.33], 240, 1));
        monitor.Evaluate(5);
        monitor.Add(2, "all", 6, Classes([0.34, 0.33, 0.33], 300, 2));
        var steady = Assert.Single(monitor.Evaluate(6));
        Assert.Equal((1, false), (steady.OutputsJudged, steady.PredictionDrift));

        monitor.Add(2, "all", 7, Classes([0.6, 0.2, 0.2], 300, 3));
        var moved = Assert.Single(monitor.Evaluate(7));
        Assert.True(moved.ClassOutputs);
        var classes = Assert.Single(moved.DriftedOutputs);
        Assert.Equal("chisquare", classes.Method);
        Assert.True(classes.Score < 1e-6, $"p = {classes.Score}");
        Assert.Equal("predicted classes (chisquare " + classes.Score.ToString("G3", System.Globalization.CultureInfo.InvariantCulture) + ")", DriftText.Outputs(moved));
        Assert.Contains("prediction drift: 1 of 1 outputs moved: predicted classes (chisquare", AlertWebhook.Summary(moved), StringComparison.Ordinal);
    }

    [Fact]
    public void EachVersion_IsJudgedAgainstItsOwnOutputs_NotItsParents()
    {
        var monitor = new FleetMonitor(new MonitoringOptions(), features: 2, classes: 0, outputs: 1);
        monitor.Add(1, "all", 30, Values([1.0], 300, 1));
        monitor.Evaluate(30);
        monitor.Add(2, "all", 31, Values([3.0], 100, 2)); // v2 answers differently — that is what it is for, not drift
        Assert.Null(monitor.PredictionReference(2));
        Assert.Empty(monitor.Evaluate(31));
        monitor.Add(2, "all", 32, Values([3.0], 150, 3));
        var report = Assert.Single(monitor.Evaluate(32));
        Assert.Equal((2UL, 1, false), (report.Version, report.OutputsJudged, report.PredictionDrift));
    }

    [Fact]
    public void AModelServedByTensorNames_MonitorsItsOutputsAsItsFeatures_WithNoSecondTest()
    {
        var monitor = new FleetMonitor(new MonitoringOptions(), features: 2, classes: 0, referenceFromProduction: true);
        var rows = new WindowProfile(2, 0);
        var random = new Random(1);
        for (var i = 0; i < 300; i++) rows.AddPrediction([(float)random.NextDouble(), (float)random.NextDouble()], -1, float.NaN, TimeSpan.FromMilliseconds(1));
        monitor.Add(1, "all", 40, rows);
        var report = Assert.Single(monitor.Evaluate(40));
        Assert.Equal(("production", 0, 2), (report.Reference, report.OutputsJudged, report.Judged));
    }

    [Fact]
    public void AReportWithTheWrongNumberOfOutputSketches_OrMoreValuesThanPredictions_IsRefused_OneWithoutAnyIsRead()
    {
        var monitor = new FleetMonitor(new MonitoringOptions(), features: 2, classes: 0, outputs: 4);
        var wrong = Values([1.0, 2.0], 30, 1).ToProto();
        Assert.Equal("2 output sketches, the model has 4 outputs", Assert.Throws<InvalidDataException>(() => monitor.Read(wrong)).Message);

        // More output values than the window's predictions: a forged report that would outweigh the fleet's.
        var inflated = Values([1.0, 2.0, 3.0, 4.0], 30, 1).ToProto();
        inflated.Predictions = 3;
        Assert.Equal("output 0: 30 values from 3 predictions", Assert.Throws<InvalidDataException>(() => monitor.Read(inflated)).Message);

        var older = new WindowProfile(2, 0).ToProto(); // an agent that does not sketch outputs, or a training sketch
        Assert.Equal(4, monitor.Read(older).Outputs.Length);
        Assert.All(monitor.Read(older).Outputs, o => Assert.Equal(0, o.Count));
    }
}
