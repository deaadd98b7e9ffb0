using System.Diagnostics;
using EdgeMlOps.Agent.Shadow;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Bench;

/// <summary>
/// What a shadow test costs the request path, side by side in one run: an MNIST-sized MLP (784-128-10) serving
/// requests back to back on one thread, without a shadow, and with a shadow session scoring every request with a
/// second model of the same size (CPU budget 100% and 25% of a core). Request-path latency and throughput, and how
/// much of the traffic the shadow scored. <c>dotnet run --project bench/EdgeMlOps.Bench -c Release -- shadow-cost</c>.
/// </summary>
public static class ShadowCost
{
    private const int Requests = 20_000;

    public static async Task RunAsync(TextWriter output)
    {
        var spec = new ModelSpec(784, [128], 10);
        var cache = new SharedCache<InferenceModel>();
        byte[] Bytes(int seed) => ClassifierGraphs.BuildInference(ModelWeights.Initialize(spec, seed)).ToByteArray();
        using var incumbentLease = await cache.AcquireAsync("incumbent", () => Task.FromResult(InferenceModel.Load(Bytes(1))));
        var random = new Random(5);
        var inputs = Enumerable.Range(0, 512).Select(_ => Enumerable.Range(0, 784).Select(_ => (float)random.NextDouble()).ToArray()).ToArray();

        var settings = new[] { ("no shadow", 0.0), ("shadow, budget 100%", 1.0), ("shadow, budget 25%", 0.25) };
        await MeasureAsync(cache, incumbentLease, inputs, settings[1], rate: 0, TextWriter.Null); // warm-up: JIT, both sessions
        output.WriteLine("setting               offered      requests/s  p50 µs  p95 µs  scored share");
        foreach (var rate in new[] { 0, 2000 })
        {
            // Each setting twice, the second pass in reverse order, so neither profits from going later.
            foreach (var setting in settings.Concat(settings.Reverse())) await MeasureAsync(cache, incumbentLease, inputs, setting, rate, output);
        }
    }

    /// <summary>Serves <see cref="Requests"/> requests (back to back, or paced at <paramref name="rate"/> a second) and prints one line.</summary>
    private static async Task MeasureAsync(SharedCache<InferenceModel> cache, SharedCache<InferenceModel>.Lease incumbent, float[][] inputs, (string Name, double Budget) setting, int rate, TextWriter output)
    {
        var spec = incumbent.Value.Spec;
        ShadowSession? session = null;
        if (setting.Budget > 0)
        {
            var candidate = await cache.AcquireAsync("candidate", () => Task.FromResult(InferenceModel.Load(ClassifierGraphs.BuildInference(ModelWeights.Initialize(spec, 2)).ToByteArray())));
            var incumbentForShadow = await cache.AcquireAsync("incumbent", () => throw new InvalidOperationException("loaded above"));
            session = new ShadowSession("bench", 1, 2, candidate, new ShadowPolicy { Share = 1, SampleRate = 1, MaxCpuShare = setting.Budget, MaxPending = 64 }, 0, incumbentForShadow);
        }

        var requests = rate > 0 ? rate * 3 : Requests;
        var latency = new LatencyHistogram();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < requests; i++)
        {
            if (rate > 0)
            {
                var due = TimeSpan.FromSeconds((double)i / rate);
                while (clock.Elapsed < due) Thread.SpinWait(20);
            }

            var x = inputs[i % inputs.Length];
            var started = Stopwatch.GetTimestamp();
            var served = incumbent.Value.Predict(x, 1);
            session?.Offer($"p{i}", x, served.Labels[0], served.Probabilities, Stopwatch.GetElapsedTime(started));
            latency.Record(Stopwatch.GetElapsedTime(started));
        }

        clock.Stop();
        if (session is not null) await Task.Delay(100); // let the queue drain before counting
        var scored = session?.Report().Scored ?? 0;
        if (session is not null) await session.DisposeAsync();
        var offered = rate > 0 ? $"{rate}/s" : "back to back";
        output.WriteLine($"{setting.Name,-20}  {offered,-12} {requests / clock.Elapsed.TotalSeconds,10:F0}  {latency.Quantile(0.5).TotalMicroseconds,6:F0}  {latency.Quantile(0.95).TotalMicroseconds,6:F0}  {(double)scored / requests,12:P1}");
    }
}
