using System.Globalization;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// Federated averaging in one process over scikit-learn's digit scans (<c>digits_tokens.csv</c>: 64 intensities 0–16,
/// then the digit): 10 shards of 140 scans from the first 1,400, 5 local epochs of batch 16 each round, every tensor of
/// an uploaded model averaged; held-out accuracy on the last 397 scans, read by running the exported file with the
/// averaged weights.
/// </summary>
internal static class DigitShardsFedAvg
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    /// <summary>Held-out accuracy of the upload, then after each round; <paramref name="rows"/> makes a sample row of a scan's 64 values.</summary>
    public static IReadOnlyList<double> Curve(UploadedClassifier uploaded, Func<int[], IEnumerable<float>> rows, float learningRate, int rounds = 5)
    {
        var scans = File.ReadAllLines(Fixture("digits_tokens.csv")).Select(l => l.Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        float[] Rows(IEnumerable<int[]> part) => [.. part.SelectMany(r => rows(r[..64]))];
        long[] Labels(IEnumerable<int[]> part) => [.. part.Select(r => (long)r[64])];
        var heldOut = scans[1400..];
        double Accuracy(float[] weights)
        {
            using var version = InferenceModel.Load(uploaded.InferenceBytes(new ModelWeights(uploaded.Spec, weights)), uploaded.Spec);
            return version.Evaluate(Rows(heldOut), Labels(heldOut)).Accuracy;
        }

        using var trainer = new TrainStepModel(uploaded.TrainStep!, uploaded.Spec);
        var weights = uploaded.InitialWeights().Values;
        var curve = new List<double> { Accuracy(weights) };
        for (var round = 0; round < rounds; round++)
        {
            var sum = new double[weights.Length];
            for (var device = 0; device < 10; device++)
            {
                var shard = scans.Skip(device * 140).Take(140).ToArray();
                var local = trainer.Train(weights, Rows(shard), Labels(shard), new LocalTrainingPlan(5, 16, learningRate, (round * 10) + device)).Weights;
                for (var i = 0; i < sum.Length; i++) sum[i] += local[i] / 10;
            }

            weights = [.. sum.Select(v => (float)v)];
            curve.Add(Accuracy(weights));
        }

        return curve;
    }

    public static string Describe(IEnumerable<double> curve) =>
        "held-out accuracy on 0-9 by round: " + string.Join(" → ", curve.Select(a => a.ToString("F3", CultureInfo.InvariantCulture)));
}
