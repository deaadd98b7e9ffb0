using System.Diagnostics;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Explanations;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Google.Protobuf;

namespace EdgeMlOps.Bench;

/// <summary>
/// What explanations cost, on an MNIST-sized MLP (784-128-10) and a 10-input one: one <c>/v1/explain</c> on the device
/// (KernelSHAP, 2,048 coalitions × 16 background rows; exact Shapley for 10 inputs), the aggregator's per-version
/// explanation (permutation importance of 784 inputs × 3 shuffles over 1,000 rows, partial dependence of 4 inputs) and a
/// device's share of a federated importance measurement (32 inputs over 600 rows).
/// <c>dotnet run --project bench/EdgeMlOps.Bench -c Release -- explain-cost</c>.
/// </summary>
public static class ExplainCost
{
    public static void Run(TextWriter output)
    {
        var random = new Random(5);
        float[] Rows(int count, int width) => Enumerable.Range(0, count * width).Select(_ => (float)random.NextDouble()).ToArray();
        using var mnist = InferenceModel.Load(ClassifierGraphs.BuildInference(ModelWeights.Initialize(new ModelSpec(784, [128], 10), 1)).ToByteArray());
        using var small = InferenceModel.Load(ClassifierGraphs.BuildInference(ModelWeights.Initialize(new ModelSpec(10, [16], 3), 1)).ToByteArray());
        var background = Rows(16, 784);
        var row = Rows(1, 784);
        var heldOut = Rows(1000, 784);
        var labels = Enumerable.Range(0, 1000).Select(_ => (long)random.Next(10)).ToArray();

        ShapleyExplainer.Explain(mnist, row, background, 16, new ShapleyOptions { MaxSamples = 2048 }); // warm-up
        Report(output, "device: /v1/explain, 784 inputs (KernelSHAP 2048 × 16)", 5, () => ShapleyExplainer.Explain(mnist, row, background, 16, new ShapleyOptions { MaxSamples = 2048 }));
        Report(output, "device: /v1/explain, 10 inputs (exact, 1024 × 16)", 20, () => ShapleyExplainer.Explain(small, Rows(1, 10), Rows(16, 10), 16, new ShapleyOptions { ExactUpToFeatures = 10 }));
        Report(output, "aggregator: importance 784 inputs × 3 over 1000 rows", 1, () => PermutationImportance.Compute(mnist, heldOut, labels, 3, 1));
        Report(output, "aggregator: partial dependence, 4 inputs × 20 points", 3, () =>
        {
            for (var j = 0; j < 4; j++) PartialDependence.Compute(mnist, heldOut, 1000, j * 100 + 300, PartialDependence.Grid(PartialDependence.Column(heldOut, 784, j * 100 + 300)));
        });
        Report(output, "device: federated importance, 32 inputs over 600 rows", 3, () =>
            PermutationImportance.Counts(mnist, heldOut.AsSpan(0, 600 * 784).ToArray(), labels.AsSpan(0, 600).ToArray(), Enumerable.Range(300, 32).ToArray(), 1));
    }

    private static void Report(TextWriter output, string what, int repeats, Action action)
    {
        var times = new List<double>();
        for (var i = 0; i < repeats; i++)
        {
            var started = Stopwatch.GetTimestamp();
            action();
            times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        times.Sort();
        output.WriteLine($"{what,-58} median {times[times.Count / 2],8:F1} ms  (min {times[0]:F1}, {repeats} runs)");
    }
}
