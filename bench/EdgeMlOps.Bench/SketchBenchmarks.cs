using BenchmarkDotNet.Attributes;
using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Bench;

/// <summary>
/// Drift sketches on the device and the aggregator: updating the 784 feature profiles of an
/// MNIST input (cost added to each prediction), merging two 784-feature window profiles (the
/// aggregator's per-device work), and one drift test of a feature.
/// </summary>
[MemoryDiagnoser]
public class SketchBenchmarks
{
    private const int Features = 784;
    private float[][] _inputs = [];
    private FeatureProfile[] _device = [];
    private FeatureProfile[] _window = [];
    private FeatureProfile _reference = new();
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _inputs = Enumerable.Range(0, 1024).Select(_ => Enumerable.Range(0, Features).Select(_ => random.NextDouble() < 0.8 ? 0f : (float)random.NextDouble()).ToArray()).ToArray();
        _device = Enumerable.Range(0, Features).Select(_ => new FeatureProfile()).ToArray();

        // A device's window: 500 predictions.
        _window = Enumerable.Range(0, Features).Select(_ => new FeatureProfile()).ToArray();
        for (var i = 0; i < 500; i++)
        {
            for (var f = 0; f < Features; f++) _window[f].Add(_inputs[i % _inputs.Length][f]);
        }

        for (var i = 0; i < 20_000; i++) _reference.Add((float)random.NextDouble());
    }

    /// <summary>Per prediction: every feature profile takes one value.</summary>
    [Benchmark]
    public void UpdatePerPrediction()
    {
        var input = _inputs[_next++ & 1023];
        for (var f = 0; f < Features; f++) _device[f].Add(input[f]);
    }

    /// <summary>Aggregator: fold one device's 784-feature window profile into the fleet's.</summary>
    [Benchmark]
    public FeatureProfile[] MergeWindow()
    {
        var fleet = Enumerable.Range(0, Features).Select(_ => new FeatureProfile()).ToArray();
        for (var f = 0; f < Features; f++) fleet[f].Merge(_window[f]);
        return fleet;
    }

    private readonly FrequentItemsSketch _categories = new();
    private readonly FrequentItemsSketch _deviceCategories = DeviceCategories();

    private static FrequentItemsSketch DeviceCategories()
    {
        var random = new Random(3);
        var sketch = new FrequentItemsSketch();
        for (var i = 0; i < 500; i++) sketch.Add(random.Next(200));
        return sketch;
    }

    /// <summary>Per prediction, one categorical input (200 categories, more than k = 64 counters).</summary>
    [Benchmark]
    public void CategoricalUpdate() => _categories.Add(_next++ % 200);

    /// <summary>Aggregator: fold one device's frequent-items sketch into the fleet's.</summary>
    [Benchmark]
    public FrequentItemsSketch CategoricalMerge()
    {
        var fleet = new FrequentItemsSketch();
        fleet.Merge(_deviceCategories);
        fleet.Merge(_deviceCategories);
        return fleet;
    }

    [Benchmark]
    public FeatureDrift DriftTestOneFeature() => DriftStatistics.Test(0, _reference, _window[400], new DriftOptions { Method = DriftMethod.Wasserstein });
}
