using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Shared.Tests.Monitoring;

public class KllSketchTests
{
    /// <summary>The stated bound for k = 200: normalized rank error ≤ 1.65% (99% confidence).</summary>
    private const double RankErrorBound = 0.0165;

    private static float[] Normal(int n, int seed, double mean = 0, double std = 1)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(mean + std * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()))).ToArray();
    }

    /// <summary>Largest |estimated rank − exact rank| over 99 evenly spaced quantiles of the exact data.</summary>
    private static double MaxRankError(KllSketch sketch, float[] values)
    {
        var sorted = values.Order().ToArray();
        double worst = 0;
        for (var i = 1; i < 100; i++)
        {
            var x = sorted[(int)((long)i * sorted.Length / 100)];
            var exact = (double)sorted.Count(v => v <= x) / sorted.Length;
            worst = Math.Max(worst, Math.Abs(sketch.Rank(x) - exact));
        }

        return worst;
    }

    [Fact]
    public void SingleSketch_StaysWithinTheRankBound_WithFewItemsRetained()
    {
        var values = Normal(200_000, 1);
        var sketch = new KllSketch(seed: 35);
        foreach (var v in values) sketch.Add(v);
        Assert.Equal(values.Length, sketch.Count);
        Assert.Equal(values.Min(), sketch.Min);
        Assert.Equal(values.Max(), sketch.Max);
        Assert.True(MaxRankError(sketch, values) <= RankErrorBound, $"rank error {MaxRankError(sketch, values)}");
        Assert.InRange(sketch.RetainedItems, 200, 1000);
        Assert.InRange(sketch.Quantile(0.5), -0.05, 0.05);
        // Φ⁻¹(0.975 ± 0.0165) spans about [1.85, 2.13].
        Assert.InRange(sketch.Quantile(0.975), 1.85, 2.13);
    }

    [Fact]
    public void MergedSketchesOfManyDevices_StayWithinTheRankBound_OnSkewedData()
    {
        // 500 devices × 400 values: a pixel-like mixture (many exact zeros, a skewed tail).
        var random = new Random(2);
        var all = new List<float>();
        var merged = new KllSketch(seed: 53);
        for (var d = 0; d < 500; d++)
        {
            var device = new KllSketch(seed: (ulong)d + 1);
            for (var i = 0; i < 400; i++)
            {
                var v = random.NextDouble() < 0.6 ? 0f : (float)Math.Pow(random.NextDouble(), 3 + d % 3);
                device.Add(v);
                all.Add(v);
            }

            merged.Merge(device);
        }

        Assert.Equal(all.Count, merged.Count);
        var error = MaxRankError(merged, all.ToArray());
        Assert.True(error <= RankErrorBound, $"rank error {error}");
    }

    [Fact]
    public void Quantiles_AreMonotonic_AndSmallSketchesAreExact()
    {
        var exact = new KllSketch();
        foreach (var v in new[] { 5f, 1f, 3f, 2f, 4f }) exact.Add(v);
        Assert.Equal(0.6, exact.Rank(3), 12);
        Assert.Equal(1, exact.Quantile(0));
        Assert.Equal(5, exact.Quantile(1));
        Assert.Equal(3, exact.Quantile(0.5));

        var sketch = new KllSketch(seed: 82);
        foreach (var v in Normal(50_000, 3)) sketch.Add(v);
        var qs = sketch.Quantiles(Enumerable.Range(0, 101).Select(i => i / 100.0).ToArray());
        for (var i = 1; i < qs.Length; i++) Assert.True(qs[i] >= qs[i - 1]);
        Assert.Throws<ArgumentException>(() => sketch.Add(float.NaN));
    }

    [Fact]
    public void FromParts_RebuildsASketch_AndRefusesImpossibleOnes()
    {
        var sketch = new KllSketch(seed: 92);
        foreach (var v in Normal(10_000, 4)) sketch.Add(v);
        var sizes = sketch.Levels.Select(l => l.Count).ToArray();
        var items = sketch.Levels.SelectMany(l => l).ToArray();
        var copy = KllSketch.FromParts(sketch.K, sketch.Count, sketch.Min, sketch.Max, sizes, items);
        Assert.Equal(sketch.Quantile(0.3), copy.Quantile(0.3));

        Assert.Throws<InvalidDataException>(() => KllSketch.FromParts(200, -1, 0, 1, sizes, items));
        Assert.Throws<InvalidDataException>(() => KllSketch.FromParts(200, sketch.Count, sketch.Min, sketch.Max, [.. sizes, 1], items));
        Assert.Throws<InvalidDataException>(() => KllSketch.FromParts(200, sketch.Count * 100, sketch.Min, sketch.Max, sizes, items));
        Assert.Throws<InvalidDataException>(() => KllSketch.FromParts(200, sketch.Count, sketch.Min, sketch.Max, sizes, [float.NaN, .. items[1..]]));
        Assert.Throws<InvalidDataException>(() => KllSketch.FromParts(200, sketch.Count, 0.5f, sketch.Max, sizes, items));
        Assert.Throws<InvalidDataException>(() => KllSketch.FromParts(3, sketch.Count, sketch.Min, sketch.Max, sizes, items));
    }

    [Fact]
    public void FeatureProfile_MergesMomentsExactly_AndCountsMissingAndNonFinite()
    {
        var values = Normal(10_000, 5, mean: 3, std: 2);
        var whole = new FeatureProfile();
        var parts = Enumerable.Range(0, 7).Select(_ => new FeatureProfile()).ToArray();
        for (var i = 0; i < values.Length; i++)
        {
            whole.Add(values[i]);
            parts[i % 7].Add(values[i]);
        }

        parts[2].Add(float.NaN);
        parts[3].Add(float.PositiveInfinity);
        var merged = new FeatureProfile();
        foreach (var p in parts) merged.Merge(p);
        Assert.Equal(whole.Count, merged.Count);
        Assert.Equal(whole.Mean, merged.Mean, 9);
        Assert.Equal(whole.Variance, merged.Variance, 7);
        Assert.Equal(values.Average(v => (double)v), merged.Mean, 6);
        Assert.Equal(1, merged.Missing);
        Assert.Equal(1, merged.NonFinite);
        Assert.Throws<InvalidDataException>(() => FeatureProfile.FromParts(10, double.NaN, 1, 0, 0, new KllSketch()));
        Assert.Throws<InvalidDataException>(() => FeatureProfile.FromParts(10, 0, 1, 0, 0, new KllSketch()));
    }
}

/// <summary>What a device's sketches look like once they pass its publication policy.</summary>
public class SketchPolicyTests
{
    [Fact]
    public void Compaction_LeavesNoSingleValueItem_PublishesRetainedExtremes_AndKeepsRanksClose()
    {
        var random = new Random(7);
        var values = Enumerable.Range(0, 5000).Select(_ => (float)random.NextDouble()).ToArray();
        var sketch = new KllSketch(seed: 142);
        foreach (var v in values) sketch.Add(v);
        var before = sketch.RetainedItems;
        sketch.Compact(minLevel: 1);
        Assert.Empty(sketch.Levels[0]);
        Assert.True(sketch.RetainedItems < before);
        Assert.Equal(values.Length, sketch.Count);
        var items = sketch.Levels.SelectMany(l => l).ToArray();
        Assert.Equal(items.Min(), sketch.Min);
        Assert.Equal(items.Max(), sketch.Max);
        var sorted = values.Order().ToArray();
        for (var q = 0.1; q < 1; q += 0.1)
        {
            var x = sorted[(int)(q * sorted.Length)];
            Assert.InRange(sketch.Rank(x), q - 0.03, q + 0.03);
        }

        sketch.Compact(minLevel: 1, maxItems: 40);
        Assert.InRange(sketch.RetainedItems, 1, 40);
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Compact(1, maxItems: 4));
    }

    [Fact]
    public void SmallSketches_SurviveCompactionAsValidSketches()
    {
        foreach (var n in new[] { 1, 2, 3, 7, 20 })
        {
            var sketch = new KllSketch(seed: (ulong)n);
            for (var i = 0; i < n; i++) sketch.Add(i);
            sketch.Compact(minLevel: 1);
            Assert.Empty(sketch.Levels[0]);
            Assert.True(sketch.RetainedItems >= 1);
            var data = WindowProfile.ToProto(sketch);
            var copy = WindowProfile.FromProto(data);
            Assert.Equal(n, copy.Count);
        }
    }

    [Fact]
    public void Window_UnderTheRowFloor_LosesItsFeatureSketches_ButKeepsItsCounts()
    {
        var policy = new SketchPolicy(MinRows: 20, MinLevel: 1);
        var small = new WindowProfile(2, 2, categorical: [1]);
        for (var i = 0; i < 19; i++) small.AddPrediction([i, i % 3], i % 2, 0.8f, TimeSpan.FromMilliseconds(2));
        small.AddOutcome(1, 1);
        Assert.False(small.ApplyPolicy(policy));
        Assert.All(small.Features, f => Assert.Equal(0, f.Count));
        Assert.True(small.Features[1].IsCategorical);
        Assert.Equal(19, small.Predictions);
        Assert.Equal(1, small.Outcomes);
        var report = small.ToProto();
        Assert.All(report.Features, f => Assert.Equal(0UL, f.Count));
        Assert.Equal(19UL, report.Predictions);

        var large = new WindowProfile(2, 2, categorical: [1]);
        for (var i = 0; i < 300; i++) large.AddPrediction([i, i % 3], i % 2, 0.8f, TimeSpan.FromMilliseconds(2));
        Assert.True(large.ApplyPolicy(policy));
        var published = large.ToProto();
        Assert.Equal(0U, published.Features[0].Quantiles.LevelSizes[0]);
        Assert.Equal(300UL, published.Features[0].Count);
        Assert.Equal(100UL, published.Features[1].Categories.Counts[0]);
        Assert.Equal(300, WindowProfile.FromProto(published, 2, 2, categorical: [1]).Features[0].Sketch.Count);
    }
}
