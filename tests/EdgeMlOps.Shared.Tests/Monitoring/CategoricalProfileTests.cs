using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Shared.Tests.Monitoring;

/// <summary>Frequent-items sketches for categorical inputs, their drift tests, and their trip through the protocol.</summary>
public class CategoricalProfileTests
{
    /// <summary>Zipf-like category codes 0..distinct-1 (code c has weight 1 / (c + 1)^s).</summary>
    private static float[] Zipf(int n, int distinct, double s, int seed)
    {
        var weights = Enumerable.Range(0, distinct).Select(c => 1 / Math.Pow(c + 1, s)).ToArray();
        var cumulative = new double[distinct];
        double sum = 0;
        for (var c = 0; c < distinct; c++) cumulative[c] = sum += weights[c];
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ =>
        {
            var index = Array.BinarySearch(cumulative, random.NextDouble() * sum);
            return (float)(index < 0 ? ~index : index);
        }).ToArray();
    }

    private static FeatureProfile Categorical(IEnumerable<float> values)
    {
        var profile = new FeatureProfile(categorical: true);
        foreach (var v in values) profile.Add(v);
        return profile;
    }

    [Fact]
    public void FewCategories_AreCountedExactly()
    {
        var sketch = new FrequentItemsSketch(k: 8);
        var values = Zipf(10_000, 5, 1.0, 1);
        foreach (var v in values) sketch.Add(v);
        Assert.Equal(0, sketch.MaximumError);
        for (var c = 0; c < 5; c++) Assert.Equal(values.Count(v => v == c), sketch.Estimate(c));
        sketch.Add(-0f);
        Assert.Equal(values.Count(v => v == 0) + 1, sketch.Estimate(0f));
        Assert.Throws<ArgumentException>(() => sketch.Add(float.NaN));
    }

    [Fact]
    public void MergedSketchesOfManyDevices_UndercountByAtMostTheirStatedError_WhichStaysWithinNOverKPlusOne()
    {
        // 200 devices × 500 values over 1,000 categories with a long tail: far more categories than counters.
        var merged = new FrequentItemsSketch();
        var exact = new Dictionary<float, long>();
        for (var d = 0; d < 200; d++)
        {
            var device = new FrequentItemsSketch();
            foreach (var v in Zipf(500, 1000, 1.1, 100 + d))
            {
                device.Add(v);
                exact[v] = exact.GetValueOrDefault(v) + 1;
            }

            merged.Merge(device);
        }

        Assert.Equal(100_000, merged.Count);
        Assert.True(merged.MaximumError <= merged.Count / (merged.K + 1), $"error {merged.MaximumError} beyond n/(k+1) = {merged.Count / (merged.K + 1)}");
        foreach (var (item, count) in exact)
        {
            var estimate = merged.Estimate(item);
            Assert.True(estimate <= count && count <= estimate + merged.MaximumError, $"category {item}: {estimate} for a true {count} (error {merged.MaximumError})");
        }

        // The heavy hitters (above the error) are all tracked.
        Assert.All(exact.Where(e => e.Value > merged.MaximumError), e => Assert.True(merged.Estimate(e.Key) > 0));
    }

    [Fact]
    public void FromParts_RefusesImpossibleSketches()
    {
        var ok = FrequentItemsSketch.FromParts(4, 10, 0, [1f, 2f], [6, 4]);
        Assert.Equal(6, ok.Estimate(1));
        Assert.Throws<InvalidDataException>(() => FrequentItemsSketch.FromParts(4, 10, 0, [1f, 2f], [6]));
        Assert.Throws<InvalidDataException>(() => FrequentItemsSketch.FromParts(4, 10, 0, [1f, 1f], [5, 5]));
        Assert.Throws<InvalidDataException>(() => FrequentItemsSketch.FromParts(4, 10, 0, [1f, 2f], [6, 5]));
        Assert.Throws<InvalidDataException>(() => FrequentItemsSketch.FromParts(4, 10, 0, [1f, float.NaN], [6, 4]));
        Assert.Throws<InvalidDataException>(() => FrequentItemsSketch.FromParts(4, 10, 0, [1f, 2f], [6, 0]));
        Assert.Throws<InvalidDataException>(() => FrequentItemsSketch.FromParts(4, 10, 11, [1f], [6]));
        Assert.Throws<InvalidDataException>(() => FrequentItemsSketch.FromParts(2, 10, 0, [1f, 2f, 3f], [1, 1, 1]));
        Assert.Throws<InvalidDataException>(() => FrequentItemsSketch.FromParts(1, 10, 0, [1f], [1]));
    }

    [Fact]
    public void ChiSquareSurvival_MatchesPublishedCriticalValues()
    {
        // Critical values from any chi-square table (upper tail).
        Assert.Equal(0.05, DriftStatistics.ChiSquareSurvival(3.841, 1), 3);
        Assert.Equal(0.05, DriftStatistics.ChiSquareSurvival(11.070, 5), 3);
        Assert.Equal(0.025, DriftStatistics.ChiSquareSurvival(20.483, 10), 3);
        Assert.Equal(0.01, DriftStatistics.ChiSquareSurvival(37.566, 20), 3);
        Assert.Equal(0.5, DriftStatistics.ChiSquareSurvival(2.366, 3), 3);
        Assert.Equal(1.0, DriftStatistics.ChiSquareSurvival(0, 4), 12);
        // A 2 × 2 table: every expected cell is 50, so χ² = 4 × 10² / 50 = 8 with one degree of freedom (p = 0.00468).
        var (statistic, p) = DriftStatistics.ChiSquareHomogeneity([40, 60], [60, 40]);
        Assert.Equal(8.0, statistic, 6);
        Assert.Equal(0.00468, p, 4);
    }

    [Theory]
    [InlineData("auto", 800)]
    [InlineData("auto", 5000)]
    [InlineData("psi", 5000)]
    [InlineData("jensenshannon", 5000)]
    [InlineData("chisquare", 5000)]
    public void SameCategoryShares_DoNotDrift_MovedSharesDo(string method, int n)
    {
        var options = new DriftOptions { Method = DriftMethods.Parse(method) };
        var reference = Categorical(Zipf(n, 6, 1.0, 1));
        var same = DriftStatistics.Test(3, reference, Categorical(Zipf(n, 6, 1.0, 2)), options);
        // The same six categories, the shares reversed (a promotion moved buyers to the rare ones).
        var moved = DriftStatistics.Test(3, reference, Categorical(Zipf(n, 6, 1.0, 3).Select(v => 5 - v)), options);
        var expected = method == "auto" ? n <= options.KsMaxCount ? "chisquare" : "jensenshannon" : method;
        Assert.Equal(expected, same.Method);
        Assert.False(same.Drifted, $"{method} on the same shares: {same.Score}");
        Assert.True(moved.Drifted, $"{method} on moved shares: {moved.Score}");

        // A new category the reference never saw drifts too.
        var novel = DriftStatistics.Test(3, reference, Categorical(Zipf(n, 6, 1.0, 4).Select((v, i) => i % 4 == 0 ? 42f : v)), options);
        Assert.True(novel.Drifted, $"{method} with a new category: {novel.Score}");
        Assert.Throws<ArgumentException>(() => DriftStatistics.Test(0, reference, new FeatureProfile(), options));
    }

    [Fact]
    public void CategoricalFeatures_TravelThroughTheProtocol_AndAMismatchedKindIsRefused()
    {
        var device = new WindowProfile(3, 2, categorical: [1]);
        var random = new Random(3);
        for (var i = 0; i < 500; i++) device.AddPrediction([(float)random.NextDouble(), random.Next(4), (float)random.NextDouble()], i % 2, 0.9f, TimeSpan.FromMilliseconds(1));
        var report = device.ToProto();
        Assert.Null(report.Features[1].Quantiles);
        Assert.Equal(4, report.Features[1].Categories.Items.Count);
        Assert.Null(report.Features[0].Categories);

        var read = WindowProfile.FromProto(report, 3, 2, categorical: [1]);
        Assert.True(read.Features[1].IsCategorical);
        Assert.Equal(device.Features[1].Categories!.Estimate(2), read.Features[1].Categories!.Estimate(2));
        var fleet = new WindowProfile(3, 2, categorical: [1]);
        fleet.Merge(read);
        fleet.Merge(read);
        Assert.Equal(2 * device.Features[1].Categories!.Estimate(3), fleet.Features[1].Categories!.Estimate(3));

        // The fleet says feature 1 is categorical: a device that sketched it as a number (or the other way round) is refused.
        Assert.Throws<InvalidDataException>(() => WindowProfile.FromProto(report, 3, 2));
        Assert.Throws<InvalidDataException>(() => WindowProfile.FromProto(report, 3, 2, categorical: [0, 1]));
        Assert.Throws<ArgumentException>(() => fleet.Merge(new WindowProfile(3, 2)));
        var inflated = report.Clone();
        inflated.Features[1].Categories.Counts[0] += 1000;
        Assert.Throws<InvalidDataException>(() => WindowProfile.FromProto(inflated, 3, 2, categorical: [1]));
    }
}
