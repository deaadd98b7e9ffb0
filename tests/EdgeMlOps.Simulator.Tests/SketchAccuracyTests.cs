using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Simulator.Data;
using Xunit.Abstractions;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>KLL merges against exact quantiles on real data: MNIST pixels, split across devices by digit.</summary>
public class SketchAccuracyTests(ITestOutputHelper output)
{
    /// <summary>The bound KllSketch states for k = 200 (normalized rank error, 99% confidence).</summary>
    private const double RankErrorBound = 0.0165;

    [Fact]
    public void MnistPixels_MergedFromDeviceSketches_StayWithinTheStatedRankBound_AlsoAfterTheDevicePolicy()
    {
        var mnist = MnistDataset.Load();
        const int devices = 100;
        const int pixels = 784;
        // Non-IID like a real fleet: rows ordered by digit, so each device sees one or two digits only.
        var order = Enumerable.Range(0, mnist.Count).OrderBy(i => mnist.Labels[i]).ToArray();
        var perDevice = mnist.Count / devices;

        // The 12 pixels with the widest spread, and the mean intensity of each image (a derived, continuous input).
        var columns = Enumerable.Range(0, pixels)
            .OrderByDescending(p => Variance(Enumerable.Range(0, mnist.Count).Select(i => mnist.Features[i * pixels + p])))
            .Take(12).ToArray();
        float Value(int row, int column) => column < 0
            ? (float)mnist.Features.AsSpan(row * pixels, pixels).ToArray().Average()
            : mnist.Features[row * pixels + column];
        var inputs = columns.Append(-1).ToArray();

        var policy = new SketchPolicy(MinRows: 20, MinLevel: 1);
        foreach (var column in inputs)
        {
            var merged = new KllSketch();
            var mergedPublished = new KllSketch();
            for (var d = 0; d < devices; d++)
            {
                var device = new WindowProfile(1, 1);
                for (var i = 0; i < perDevice; i++) device.AddInputs([Value(order[d * perDevice + i], column)]);
                merged.Merge(device.Features[0].Sketch);
                Assert.True(device.ApplyPolicy(policy));
                Assert.Empty(device.Features[0].Sketch.Levels[0]);
                mergedPublished.Merge(device.Features[0].Sketch);
            }

            var exact = Enumerable.Range(0, devices * perDevice).Select(i => Value(order[i], column)).ToArray();
            Assert.Equal(exact.Length, merged.Count);
            var error = MaxRankError(merged, exact);
            var errorPublished = MaxRankError(mergedPublished, exact);
            output.WriteLine($"input {column}: {exact.Length} values, max rank error {error:F4} merged, {errorPublished:F4} merged after the device policy ({mergedPublished.RetainedItems} items)");
            Assert.True(error <= RankErrorBound, $"input {column}: rank error {error:F4} of the merged device sketches");
            Assert.True(errorPublished <= RankErrorBound, $"input {column}: rank error {errorPublished:F4} of the merged published sketches");
        }
    }

    private static double Variance(IEnumerable<float> values)
    {
        var list = values.Select(v => (double)v).ToArray();
        var mean = list.Average();
        return list.Sum(v => (v - mean) * (v - mean)) / list.Length;
    }

    /// <summary>Largest |estimated − exact| rank at the distinct values of the data (every step of the exact CDF).</summary>
    private static double MaxRankError(KllSketch sketch, float[] values)
    {
        var sorted = values.Order().ToArray();
        double worst = 0;
        for (var i = 0; i < sorted.Length; i++)
        {
            if (i + 1 < sorted.Length && sorted[i + 1] == sorted[i]) continue;
            var exact = (double)(i + 1) / sorted.Length;
            worst = Math.Max(worst, Math.Abs(sketch.Rank(sorted[i]) - exact));
        }

        return worst;
    }
}
