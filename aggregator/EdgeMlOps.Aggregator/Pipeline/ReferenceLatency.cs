using System.Diagnostics;
using EdgeMlOps.Runtime;

namespace EdgeMlOps.Aggregator.Pipeline;

/// <summary>
/// Times two versions on the reference runtime (the agent's ONNX Runtime session, CPU) the way the device's shadow
/// does: one request at a time, the same rows, back to back in alternating order after a warm-up, so load on the
/// host slows both alike and the ratio of their p95 latencies is what the gate reads.
/// </summary>
public static class ReferenceLatency
{
    private const int WarmUp = 20;

    public static LatencyComparison? Compare(byte[] candidate, byte[] deployed, float[] rows, EdgeMlOps.Shared.Models.ModelSpec spec, int requests, byte[]? preprocess = null)
    {
        var inputDim = spec.InputDim;
        if (rows.Length / Math.Max(1, inputDim) == 0 || requests <= 0) return null;
        using var a = InferenceModel.Load(candidate, spec, preprocess: preprocess);
        using var b = InferenceModel.Load(deployed, spec, preprocess: preprocess);
        rows = Answered(a, rows, inputDim); // behind a front end whose counts the data decides, timed on the rows it takes
        var count = rows.Length / Math.Max(1, inputDim);
        if (count == 0) return null;
        var timesA = new double[requests];
        var timesB = new double[requests];
        for (var i = -WarmUp; i < requests; i++)
        {
            var row = rows.AsSpan((((i % count) + count) % count) * inputDim, inputDim).ToArray();
            var first = (i & 1) == 0;
            var ta = Time(first ? a : b, row);
            var tb = Time(first ? b : a, row);
            if (i < 0) continue;
            timesA[i] = first ? ta : tb;
            timesB[i] = first ? tb : ta;
        }

        return new LatencyComparison(requests, P95(timesA), P95(timesB));
    }

    /// <summary>The rows the model's front end does not refuse (all of them unless its counts are the data's to decide).</summary>
    private static float[] Answered(InferenceModel model, float[] rows, int inputDim)
    {
        var count = rows.Length / inputDim;
        var kept = model.RowsTaken(rows, count);
        return kept.Length == count ? rows : [.. kept.SelectMany(i => rows.AsSpan(i * inputDim, inputDim).ToArray())];
    }

    private static double Time(InferenceModel model, float[] row)
    {
        var started = Stopwatch.GetTimestamp();
        if (model.Spec.TakesTargets) _ = model.PredictValues(row, 1);
        else _ = model.Predict(row, 1);
        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    private static double P95(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(0.95 * sorted.Length) - 1)];
    }
}
