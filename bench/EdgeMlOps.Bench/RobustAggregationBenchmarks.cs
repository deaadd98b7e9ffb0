using BenchmarkDotNet.Attributes;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Bench;

/// <summary>
/// Coordinate-wise median and trimmed mean over 1,000 buffered updates of an MLP 784-128-10
/// (101,770 parameters; 407 MB of rows). Parameters per second = 1,000 × 101,770 / mean time.
/// </summary>
public class RobustAggregationBenchmarks
{
    private const int Updates = 1000;
    private static readonly int Length = ParameterLayout.For(ModelSpec.Mlp(784, [128], 10)).TotalLength;
    private List<float[]> _rows = [];

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _rows = Enumerable.Range(0, Updates).Select(_ =>
        {
            var row = new float[Length];
            for (var i = 0; i < row.Length; i++) row[i] = (float)(random.NextDouble() - 0.5) * 0.01f;
            return row;
        }).ToList();
    }

    [Benchmark]
    public float Median() => CoordinateWise.Median(_rows, Length, Threads)[0];

    /// <summary>β = 0.1: drop 100 from each end of each coordinate.</summary>
    [Benchmark]
    public float TrimmedMean() => CoordinateWise.TrimmedMean(_rows, Length, trim: 100, Threads)[0];
}
