using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Tensors;

namespace EdgeMlOps.Shared.Tests.Aggregation;

public class RobustAggregationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(17)]
    [InlineData(100)]
    [InlineData(1001)]
    public void Select_Median_TrimmedMean_MatchSorting(int n)
    {
        var random = new Random(n);
        for (var trial = 0; trial < 20; trial++)
        {
            // Few distinct values in half the trials: duplicates stress the partitioning.
            var values = Enumerable.Range(0, n).Select(_ => trial % 2 == 0 ? (float)random.NextDouble() : random.Next(5)).ToArray();
            var sorted = values.OrderBy(v => v).ToArray();
            var k = random.Next(n);
            Assert.Equal(sorted[k], OrderStatistics.Select(values.ToArray(), k));

            var expectedMedian = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2f;
            Assert.Equal(expectedMedian, OrderStatistics.Median(values.ToArray()), 6);

            var trim = (int)(0.2 * n);
            if (2 * trim < n)
            {
                var expected = sorted.Skip(trim).Take(n - 2 * trim).Average(v => (double)v);
                Assert.Equal(expected, OrderStatistics.TrimmedMean(values.ToArray(), trim), 5);
            }
        }
    }

    [Theory]
    [InlineData(31, 6, false)]
    [InlineData(30, 6, false)]
    [InlineData(40, 10, true)]
    [InlineData(3, 1, true)]
    [InlineData(20, 9, false)] // the two kept ranks share their few candidate keys
    [InlineData(1000, 100, false)] // sweeps stop early: few keys left agree with the prefix, a small sort finishes
    [InlineData(1001, 250, true)] // ~140 copies of each value: never few, all 32 sweeps run
    public void CoordinateWise_MatchesPerCoordinateReference_AcrossBlockTails(int n, int trim, bool duplicates)
    {
        var random = new Random(n);
        const int length = 64 + 16 * 2 + 7;
        float Draw() => duplicates ? random.Next(-3, 4) * 0.5f : (float)(random.NextDouble() * 2 - 1);
        var rows = Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, length).Select(_ => Draw()).ToArray()).ToList();
        rows[0][5] = -0f;
        var median = CoordinateWise.Median(rows, length, maxParallelism: 2);
        var trimmed = CoordinateWise.TrimmedMean(rows, length, trim, maxParallelism: 1);
        for (var j = 0; j < length; j++)
        {
            var column = rows.Select(r => (double)r[j]).OrderBy(v => v).ToArray();
            var expectedMedian = n % 2 == 1 ? column[n / 2] : (column[n / 2 - 1] + column[n / 2]) / 2;
            Assert.Equal(expectedMedian, median[j], 6);
            Assert.Equal(column.Skip(trim).Take(n - 2 * trim).Average(), trimmed[j], 5);
        }
    }

    [Fact]
    public void RobustCombiners_IgnoreAFewHugeUpdates_WhileTheMeanIsDragged()
    {
        var layout = ParameterLayout.For(ModelSpecText.Parse("logreg-4-3"));
        var honest = Enumerable.Range(0, 8).Select(i => Filled(layout, 1f + 0.01f * i)).ToList();
        var hostile = Enumerable.Range(0, 2).Select(_ => Filled(layout, -1000f)).ToList();
        var combiners = new IUpdateCombiner[]
        {
            new MeanCombiner(layout.TotalLength),
            new MedianCombiner(layout.TotalLength),
            new TrimmedMeanCombiner(layout.TotalLength, 0.2),
            new KrumCombiner(layout.TotalLength, byzantine: 2, keep: 3),
        };

        foreach (var combiner in combiners)
        {
            var i = 0;
            foreach (var update in honest.Concat(hostile)) combiner.Add(new Contribution($"d{i++}", 10, 1, 10), layout, TensorCodec.Encode(layout, update).ToList());
        }

        Assert.All(combiners[0].Combine(), v => Assert.True(v < -150));
        foreach (var robust in combiners.Skip(1)) Assert.All(robust.Combine(), v => Assert.InRange(v, 1f, 1.08f));
        Assert.DoesNotContain(8, ((KrumCombiner)combiners[3]).Kept);
        Assert.DoesNotContain(9, ((KrumCombiner)combiners[3]).Kept);
    }

    [Fact]
    public void Bucketing_RunsTheRuleOnSampleWeightedMeansOfShuffledPairs_ReproduciblyWhateverTheArrivalOrder()
    {
        var layout = ParameterLayout.For(ModelSpecText.Parse("logreg-4-3"));

        // Nine honest updates (1.00 … 1.08, device d{i}, 10 + i samples) and two hostile ones.
        List<(string Id, float Value, long Samples)> updates =
            [.. Enumerable.Range(0, 9).Select(i => ($"d{i}", 1f + 0.01f * i, 10L + i)), ("x0", -1000f, 10L), ("x1", -1000f, 10L)];
        float[] Run(IUpdateCombiner combiner, IEnumerable<(string Id, float Value, long Samples)> order)
        {
            foreach (var u in order) combiner.Add(new Contribution(u.Id, u.Samples, 1, u.Samples), layout, TensorCodec.Encode(layout, Filled(layout, u.Value)).ToList());
            return combiner.Combine();
        }

        var krum = new KrumCombiner(layout.TotalLength, byzantine: 2, keep: 1, bucketSize: 2, bucketSeed: 7);
        var kept = Run(krum, updates);
        Assert.Equal(6, krum.Inputs);
        Assert.Equal(11, krum.Count);

        // The kept input is the sample-weighted mean of two honest updates: some pair's, and no single update's value.
        var pairs = from a in updates.Take(9) from b in updates.Take(9) where string.CompareOrdinal(a.Id, b.Id) < 0
                    select (a.Value * a.Samples + b.Value * b.Samples) / (float)(a.Samples + b.Samples);
        Assert.Contains(pairs, p => Math.Abs(p - kept[0]) < 1e-5);
        Assert.All(kept, v => Assert.Equal(kept[0], v, 6));

        // The same devices in reverse arrival order make the same buckets; another seed makes others.
        var reversed = Run(new KrumCombiner(layout.TotalLength, byzantine: 2, keep: 1, bucketSize: 2, bucketSeed: 7), Enumerable.Reverse(updates));
        Assert.Equal(kept, reversed);
        var seeds = Enumerable.Range(0, 20).Select(seed => Run(new MedianCombiner(layout.TotalLength, bucketSize: 2, bucketSeed: seed), updates)[0]).Distinct().Count();
        Assert.True(seeds > 1, "every seed made the same buckets");

        // Two hostile updates spoil at most two of the six buckets: median and trimmed mean stay in the honest range.
        Assert.All(Run(new MedianCombiner(layout.TotalLength, bucketSize: 2, bucketSeed: 7), updates), v => Assert.InRange(v, 1f, 1.08f));
        Assert.All(Run(new TrimmedMeanCombiner(layout.TotalLength, 0.34, bucketSize: 2, bucketSeed: 7), updates), v => Assert.InRange(v, 1f, 1.08f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MedianCombiner(4, bucketSize: 0));
    }

    [Fact]
    public void MeanCombiner_AppliesClipScale_AndFixedDenominator()
    {
        var layout = ParameterLayout.For(ModelSpecText.Parse("logreg-2-2"));
        var mean = new MeanCombiner(layout.TotalLength, fixedDenominator: 4);
        mean.Add(new Contribution("a", 1, 0.5, 3), layout, TensorCodec.Encode(layout, Filled(layout, 2f)).ToList());
        mean.Add(new Contribution("b", 1, 1.0, 3), layout, TensorCodec.Encode(layout, Filled(layout, 1f)).ToList());
        Assert.All(mean.Combine(), v => Assert.Equal((0.5f * 2 + 1) / 4, v, 6));
    }

    private static float[] Filled(ParameterLayout layout, float value) => Enumerable.Repeat(value, layout.TotalLength).ToArray();
}
