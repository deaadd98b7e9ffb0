using EdgeMlOps.Shared.Explanations;

namespace EdgeMlOps.Aggregator.Tests.Explanations;

/// <summary>
/// The explainers on a real model (PyTorch-trained on UCI wine, exported by torch.onnx.export, served by ONNX Runtime)
/// against independent references: scikit-learn's partial_dependence and permutation_importance and an exact Shapley
/// computation written in Python.
/// </summary>
public sealed class ExplainerReferenceTests : IDisposable
{
    private readonly WineReference _wine = WineReference.Load();

    public void Dispose() => _wine.Dispose();

    [Fact]
    public void PartialDependence_MatchesScikitLearn_GridAndAverages_ForEveryInput()
    {
        foreach (var expected in _wine.Reference.GetProperty("pdp").EnumerateArray())
        {
            var feature = expected.GetProperty("feature").GetInt32();
            var grid = PartialDependence.Grid(PartialDependence.Column(_wine.Rows, WineReference.Inputs, feature));
            var sklearnGrid = WineReference.Doubles(expected.GetProperty("grid"));
            Assert.Equal(sklearnGrid.Length, grid.Length);
            for (var g = 0; g < grid.Length; g++) Assert.Equal(sklearnGrid[g], grid[g], 4);

            var curve = PartialDependence.Compute(_wine.Model, _wine.Rows, _wine.Labels.Length, feature, grid);
            var average = expected.GetProperty("average").EnumerateArray().Select(WineReference.Doubles).ToArray();
            for (var g = 0; g < grid.Length; g++)
            {
                for (var k = 0; k < 3; k++) Assert.Equal(average[g][k], curve.Average[g][k], 4);
            }
        }
    }

    [Fact]
    public void PermutationImportance_AgreesWithScikitLearn_WithinTheRepeatsNoise()
    {
        var ours = PermutationImportance.Compute(_wine.Model, _wine.Rows, _wine.Labels, repeats: 30, seed: 3);
        var mean = WineReference.Doubles(_wine.Reference.GetProperty("importance").GetProperty("mean"));
        var std = WineReference.Doubles(_wine.Reference.GetProperty("importance").GetProperty("std"));
        Assert.Equal(_wine.Reference.GetProperty("accuracy").GetDouble(), ours.BaselineAccuracy, 6);
        for (var j = 0; j < WineReference.Inputs; j++)
        {
            // Two estimates of the same mean over 30 shuffles each: their difference is within a few standard errors.
            var tolerance = 4 * Math.Sqrt((std[j] * std[j] + ours.Features[j].StdDev * ours.Features[j].StdDev) / 30) + 0.003;
            Assert.InRange(ours.Features[j].Mean, mean[j] - tolerance, mean[j] + tolerance);
        }

        // The ranking a reviewer reads: the three most important inputs are scikit-learn's three.
        var sklearnTop = mean.Select((m, j) => (m, j)).OrderByDescending(x => x.m).Take(3).Select(x => x.j).Order();
        Assert.Equal(sklearnTop, ours.Top(3).Select(f => f.Feature).Order());
    }

    [Fact]
    public void ExactShapley_MatchesTheTextbookFormula_AndAddsUpToThePrediction()
    {
        var (row, background, expected) = ShapleyCase();
        var explanation = ShapleyExplainer.Explain(_wine.Model, row, background, 10, new ShapleyOptions { ExactUpToFeatures = 13 });
        Assert.Equal("exact", explanation.Method);
        Assert.Equal(8192, explanation.Coalitions);
        for (var k = 0; k < 3; k++)
        {
            for (var j = 0; j < WineReference.Inputs; j++) Assert.Equal(expected[k][j], explanation.Values[k][j], 5);
            Assert.Equal(explanation.Output[k] - explanation.BaseValues[k], explanation.Values[k].Sum(), 9);
        }
    }

    [Fact]
    public void KernelShap_WithAQuarterOfTheCoalitions_ApproximatesTheExactValues_AndKeepsEfficiencyExact()
    {
        var (row, background, expected) = ShapleyCase();
        var explanation = ShapleyExplainer.Explain(_wine.Model, row, background, 10, new ShapleyOptions { ExactUpToFeatures = 0, Samples = 2048 });
        Assert.Equal("kernel", explanation.Method);
        Assert.Equal(2050, explanation.Coalitions);
        var largest = expected.SelectMany(v => v).Max(Math.Abs);
        for (var k = 0; k < 3; k++)
        {
            Assert.Equal(explanation.Output[k] - explanation.BaseValues[k], explanation.Values[k].Sum(), 9);
            for (var j = 0; j < WineReference.Inputs; j++) Assert.InRange(explanation.Values[k][j] - expected[k][j], -0.05 * largest, 0.05 * largest);
        }
    }

    [Fact]
    public void KernelShap_WithABudgetThatCoversEveryCoalition_IsExact()
    {
        var (row, background, expected) = ShapleyCase();
        var explanation = ShapleyExplainer.Explain(_wine.Model, row, background, 10, new ShapleyOptions { ExactUpToFeatures = 0, Samples = 8190, MaxSamples = 8190 });
        for (var k = 0; k < 3; k++)
        {
            for (var j = 0; j < WineReference.Inputs; j++) Assert.Equal(expected[k][j], explanation.Values[k][j], 5);
        }
    }

    [Fact]
    public void SubgroupMetrics_MatchScikitLearn_PerGroup_AndTheGapsNameTheGroups()
    {
        var groups = _wine.Reference.GetProperty("groups").EnumerateArray()
            .Select(g => (IReadOnlyList<string>)g.EnumerateArray().Select(e => e.GetString()!).ToArray()).ToArray();
        var probabilities = _wine.Model.Predict(_wine.Rows, _wine.Labels.Length).Probabilities;
        var metrics = SubgroupAnalysis.Compute(probabilities, 3, _wine.Labels, groups);
        var expected = _wine.Reference.GetProperty("subgroups");
        Assert.Equal(expected.EnumerateObject().Select(p => p.Name), metrics.Select(m => m.Group));
        foreach (var m in metrics)
        {
            var e = expected.GetProperty(m.Group);
            Assert.Equal(e.GetProperty("samples").GetInt32(), m.Samples);
            Assert.Equal(e.GetProperty("accuracy").GetDouble(), m.Accuracy, 9);
            Assert.Equal(e.GetProperty("precision").GetDouble(), m.MacroPrecision, 9);
            Assert.Equal(e.GetProperty("recall").GetDouble(), m.MacroRecall, 9);
            Assert.Equal(e.GetProperty("ece").GetDouble(), m.CalibrationError, 5);
            Assert.Null(m.SelectionRate); // three classes
        }

        var alcohol = SubgroupAnalysis.Gaps(metrics).Single(g => g.Attribute == "alcohol" && g.Metric == "accuracy");
        var (high, low) = (expected.GetProperty("alcohol=high").GetProperty("accuracy").GetDouble(), expected.GetProperty("alcohol=low").GetProperty("accuracy").GetDouble());
        Assert.Equal(Math.Abs(high - low), alcohol.Gap, 9);
        Assert.Equal(high < low ? "alcohol=high" : "alcohol=low", alcohol.Lowest);
    }

    private (float[] Row, float[] Background, double[][] Expected) ShapleyCase()
    {
        var shapley = _wine.Reference.GetProperty("shapley");
        var row = _wine.Rows.AsSpan(0, WineReference.Inputs).ToArray();
        var background = _wine.Rows.AsSpan(WineReference.Inputs, 10 * WineReference.Inputs).ToArray();
        var expected = shapley.GetProperty("values").EnumerateArray().Select(WineReference.Doubles).ToArray();
        return (row, background, expected);
    }
}
