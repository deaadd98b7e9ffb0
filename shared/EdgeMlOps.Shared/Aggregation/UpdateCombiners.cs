using System.Numerics.Tensors;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;
using Tensor = EdgeMlOps.Shared.Protocol.V1.Tensor;
using EdgeMlOps.Shared.Tensors;

namespace EdgeMlOps.Shared.Aggregation;

/// <summary>
/// One validated update as a combiner sees it. Weight is the averaging weight (sample count for
/// FedAvg, 1 under DP, staleness-discounted under FedBuff); Scale multiplies the update's values
/// first (clipping; 1 leaves them alone).
/// </summary>
public readonly record struct Contribution(string DeviceId, double Weight, double Scale, long Samples);

/// <summary>
/// Folds a round's validated updates into one delta. A mean streams (O(parameters) memory);
/// robust statistics have to see every update, so they buffer them (O(updates × parameters)).
/// Not thread-safe: the round accumulator serialises calls.
/// </summary>
public interface IUpdateCombiner
{
    int Count { get; }

    void Add(in Contribution contribution, ParameterLayout layout, IReadOnlyList<Tensor> delta);

    /// <summary>The combined delta. Throws when nothing was added.</summary>
    float[] Combine();
}

/// <summary>Weighted mean, decoded and accumulated as each update arrives (FedAvg).</summary>
public sealed class MeanCombiner : IUpdateCombiner
{
    private readonly StreamingWeightedSum _sum;
    private readonly double? _fixedDenominator;

    /// <summary>A mean over vectors of <paramref name="length"/>; with <paramref name="fixedDenominator"/>, the sum divided by it instead of the total weight (DP-FedAvg's fixed-denominator estimator).</summary>
    public MeanCombiner(int length, double? fixedDenominator = null)
    {
        _sum = new StreamingWeightedSum(length);
        _fixedDenominator = fixedDenominator;
    }

    public int Count => _sum.Count;

    public void Add(in Contribution contribution, ParameterLayout layout, IReadOnlyList<Tensor> delta)
    {
        var weight = contribution.Weight * contribution.Scale;
        foreach (var tensor in delta)
        {
            layout.TryGet(tensor.Name, out var p);
            TensorCodec.Accumulate(tensor, p, _sum, weight);
        }

        _sum.Commit(contribution.Weight);
    }

    public float[] Combine()
    {
        if (Count == 0) throw new InvalidOperationException("No updates to combine.");
        return _fixedDenominator is { } d ? _sum.Scaled(1.0 / d) : _sum.Mean();
    }
}

/// <summary>Keeps every update decoded in memory for statistics that need all of them at once.</summary>
public abstract class BufferedCombiner : IUpdateCombiner
{
    private readonly int _length;

    protected BufferedCombiner(int length)
    {
        _length = length;
    }

    public int Count => Rows.Count;

    protected List<float[]> Rows { get; } = new();

    protected List<Contribution> Contributions { get; } = new();

    protected int Length => _length;

    public void Add(in Contribution contribution, ParameterLayout layout, IReadOnlyList<Tensor> delta)
    {
        var row = new float[_length];
        foreach (var tensor in delta)
        {
            layout.TryGet(tensor.Name, out var p);
            TensorCodec.Decode(tensor, row.AsSpan(p.Offset, p.Length));
        }

        if (contribution.Scale != 1) TensorPrimitives.Multiply(row, (float)contribution.Scale, row);
        Rows.Add(row);
        Contributions.Add(contribution);
    }

    public float[] Combine()
    {
        if (Count == 0) throw new InvalidOperationException("No updates to combine.");
        return CombineRows();
    }

    protected abstract float[] CombineRows();
}

/// <summary>Coordinate-wise median (Yin et al. 2018; Flower's FedMedian). Unweighted.</summary>
public sealed class MedianCombiner(int length, int maxParallelism = 1) : BufferedCombiner(length)
{
    protected override float[] CombineRows() => CoordinateWise.Median(Rows, Length, maxParallelism);
}

/// <summary>Coordinate-wise β-trimmed mean (Yin et al. 2018; Flower's FedTrimmedAvg). Unweighted.</summary>
public sealed class TrimmedMeanCombiner : BufferedCombiner
{
    private readonly double _beta;
    private readonly int _maxParallelism;

    /// <summary>Trims the share <paramref name="beta"/> (in [0, 0.5)) from each end of every coordinate.</summary>
    public TrimmedMeanCombiner(int length, double beta, int maxParallelism = 1)
        : base(length)
    {
        if (beta is < 0 or >= 0.5) throw new ArgumentOutOfRangeException(nameof(beta), "beta must be in [0, 0.5)");
        _beta = beta;
        _maxParallelism = maxParallelism;
    }

    protected override float[] CombineRows()
    {
        var trim = (int)Math.Floor(_beta * Rows.Count);
        if (2 * trim >= Rows.Count) trim = (Rows.Count - 1) / 2;
        return CoordinateWise.TrimmedMean(Rows, Length, trim, _maxParallelism);
    }
}

/// <summary>
/// Krum and Multi-Krum (Blanchard et al. 2017): score each update by the summed squared
/// distance to its n − f − 2 nearest others, keep the <c>m</c> best and average them by samples
/// (m = 1 is Krum). Tolerates f Byzantine updates when n ≥ 2f + 3.
/// </summary>
public sealed class KrumCombiner : BufferedCombiner
{
    private readonly int _byzantine;
    private readonly int _keep;

    public KrumCombiner(int length, int byzantine, int keep = 1)
        : base(length)
    {
        if (byzantine < 0) throw new ArgumentOutOfRangeException(nameof(byzantine));
        if (keep < 1) throw new ArgumentOutOfRangeException(nameof(keep));
        _byzantine = byzantine;
        _keep = keep;
    }

    /// <summary>Indices (in arrival order) of the updates the last <see cref="IUpdateCombiner.Combine"/> kept.</summary>
    public IReadOnlyList<int> Kept { get; private set; } = [];

    protected override float[] CombineRows()
    {
        var n = Rows.Count;
        var distances = new double[n, n];
        Parallel.For(0, n, i =>
        {
            for (var j = i + 1; j < n; j++)
            {
                var d = (double)TensorPrimitives.Distance<float>(Rows[i], Rows[j]);
                distances[i, j] = d * d;
                distances[j, i] = d * d;
            }
        });

        // With too few updates for the guarantee, score on as many neighbours as there are.
        var neighbours = Math.Clamp(n - _byzantine - 2, 1, Math.Max(1, n - 1));
        var scores = new double[n];
        var row = new double[n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++) row[j] = distances[i, j];
            row[i] = double.PositiveInfinity;
            Array.Sort(row);
            double score = 0;
            for (var j = 0; j < Math.Min(neighbours, n - 1); j++) score += row[j];
            scores[i] = score;
        }

        Kept = Enumerable.Range(0, n).OrderBy(i => scores[i]).ThenBy(i => i).Take(Math.Min(_keep, n)).ToArray();
        var sum = new StreamingWeightedSum(Length);
        foreach (var i in Kept) sum.Add(Rows[i], Math.Max(1, Contributions[i].Samples));
        return sum.Mean();
    }
}

/// <summary>Coordinate-wise statistics over buffered rows, a cache-line-wide block of coordinates at a time.</summary>
public static class CoordinateWise
{
    /// <summary>Coordinates gathered per block: one 64-byte cache line of each row.</summary>
    private const int BlockWidth = 16;

    public static float[] Median(IReadOnlyList<float[]> rows, int length, int maxParallelism = 1) =>
        Reduce(rows, length, maxParallelism, static (column, _) => OrderStatistics.Median(column), 0);

    public static float[] TrimmedMean(IReadOnlyList<float[]> rows, int length, int trim, int maxParallelism = 1) =>
        Reduce(rows, length, maxParallelism, static (column, t) => OrderStatistics.TrimmedMean(column, t), trim);

    private delegate float ColumnReducer(Span<float> column, int argument);

    private static float[] Reduce(IReadOnlyList<float[]> rows, int length, int maxParallelism, ColumnReducer reducer, int argument)
    {
        var n = rows.Count;
        var result = new float[length];
        var blocks = (length + BlockWidth - 1) / BlockWidth;
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, maxParallelism) };
        Parallel.For(0, options.MaxDegreeOfParallelism, options, worker =>
        {
            // Column-major scratch: column c of the block is scratch[c*n .. c*n+n).
            var scratch = new float[BlockWidth * n];
            for (var block = worker; block < blocks; block += options.MaxDegreeOfParallelism)
            {
                var start = block * BlockWidth;
                var width = Math.Min(BlockWidth, length - start);
                for (var r = 0; r < n; r++)
                {
                    var source = rows[r].AsSpan(start, width);
                    for (var c = 0; c < width; c++) scratch[c * n + r] = source[c];
                }

                for (var c = 0; c < width; c++) result[start + c] = reducer(scratch.AsSpan(c * n, n), argument);
            }
        });

        return result;
    }
}
