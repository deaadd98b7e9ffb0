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

    [Fact]
    public void MnistWindowProfiles_AfterTheDevicePolicy_AreAcceptedByTheAggregator()
    {
        // Sparse real inputs: most pixels are 0 in most rows. The policy publishes retained extremes, which can
        // leave a pixel's exact mean outside the published [min, max]; such profiles used to be refused
        // ("BadProfile: mean outside [min, max]") and monitoring stayed empty on real data.
        var mnist = MnistDataset.Load();
        const int pixels = 784;
        var policy = new SketchPolicy(MinRows: 20, MinLevel: 1);
        var refused = 0;
        for (var device = 0; device < 20; device++)
        {
            var profile = new WindowProfile(pixels, 10);
            for (var i = 0; i < 50; i++)
            {
                var row = device * 50 + i;
                profile.AddPrediction(mnist.Features.AsSpan(row * pixels, pixels), mnist.Labels[row], 0.9f, TimeSpan.FromMilliseconds(1));
            }

            Assert.True(profile.ApplyPolicy(policy));
            var report = profile.ToProto();
            try
            {
                var parsed = WindowProfile.FromProto(report, pixels, 10);
                Assert.Equal(50, parsed.Predictions);
                Assert.Equal(profile.Features.Select(f => f.Mean), parsed.Features.Select(f => f.Mean));
            }
            catch (InvalidDataException ex)
            {
                output.WriteLine($"device {device}: {ex.Message}");
                refused++;
            }
        }

        Assert.Equal(0, refused);
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
