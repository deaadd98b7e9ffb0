using BenchmarkDotNet.Attributes;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Tensors;

namespace EdgeMlOps.Bench;

/// <summary>
/// Streaming FedAvg over 1,000 fp32 updates of an MLP 784-128-10 (101,770 parameters), one core.
/// Parameters per second = 1,000 × 101,770 / mean time. 64 distinct updates (26 MB) are cycled so
/// reads come from memory, not cache.
/// </summary>
[MemoryDiagnoser]
public class AggregationBenchmarks
{
    private const int Updates = 1000;
    private const int Distinct = 64;
    private static readonly ModelSpec Spec = ModelSpec.Mlp(784, [128], 10);
    private readonly ParameterLayout _layout = ParameterLayout.For(Spec);
    private float[][] _vectors = [];
    private ModelUpdate[] _messages = [];
    private string[] _devices = [];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _vectors = Enumerable.Range(0, Distinct)
            .Select(_ => Enumerable.Range(0, _layout.TotalLength).Select(_ => (float)(random.NextDouble() - 0.5) * 0.01f).ToArray())
            .ToArray();
        _messages = _vectors.Select((v, i) =>
        {
            var m = new ModelUpdate { Header = ProtocolInfo.NewHeader("b", "d", (ulong)i, 0), RoundId = "r", ModelName = "m", BaseVersion = 1, SampleCount = 10 };
            m.Delta.AddRange(TensorCodec.Encode(_layout, v));
            return m;
        }).ToArray();
        _devices = Enumerable.Range(0, Updates).Select(i => $"d{i}").ToArray();
    }

    /// <summary>Baseline: a plain scalar loop (what a straightforward implementation does).</summary>
    [Benchmark(Baseline = true)]
    public double ScalarWeightedSum()
    {
        var sum = new double[_layout.TotalLength];
        for (var u = 0; u < Updates; u++)
        {
            var v = _vectors[u % Distinct];
            for (var i = 0; i < v.Length; i++) sum[i] += 10.0 * v[i];
        }

        return sum[0];
    }

    /// <summary>Memory-bandwidth reference: only reads the same 1,000 updates (a sum of each).</summary>
    [Benchmark]
    public float ReadOnlySum()
    {
        var total = 0f;
        for (var u = 0; u < Updates; u++) total += System.Numerics.Tensors.TensorPrimitives.Sum<float>(_vectors[u % Distinct]);
        return total;
    }

    /// <summary>The accumulation kernel alone (SIMD fp32 staging, fp64 fold every 64 updates).</summary>
    [Benchmark]
    public double StreamingWeightedSum()
    {
        var sum = new StreamingWeightedSum(_layout.TotalLength);
        for (var u = 0; u < Updates; u++) sum.Add(_vectors[u % Distinct], 10);
        return sum.TotalWeight;
    }

    /// <summary>The aggregator's real path: validate each wire update (shape, finiteness, norm) then fold it in.</summary>
    [Benchmark]
    public int RoundAccumulatorOffer()
    {
        var round = new RoundAccumulator("r", "m", 1, _layout, _devices);
        for (var u = 0; u < Updates; u++) round.Offer(_devices[u], _messages[u % Distinct]);
        return round.AcceptedCount;
    }
}
