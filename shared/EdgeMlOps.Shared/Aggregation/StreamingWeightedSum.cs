using System.Numerics.Tensors;

namespace EdgeMlOps.Shared.Aggregation;

/// <summary>
/// Folds weighted vectors in as they arrive: memory is one float and one double per parameter,
/// whatever the number of contributors. Each contribution is multiply-added in fp32 (16 lanes
/// with AVX-512) into a staging vector, which is folded into the fp64 total every
/// <see cref="FoldEvery"/> contributions: the hot loop reads 4 bytes per value and writes a
/// vector that stays in cache, while the total keeps double precision over thousands of updates.
/// </summary>
public sealed class StreamingWeightedSum
{
    /// <summary>Contributions staged in fp32 before they are folded into the fp64 total.</summary>
    public const int FoldEvery = 16;

    private readonly double[] _sum;
    private readonly float[] _staged;
    private int _stagedCount;

    public StreamingWeightedSum(int length)
    {
        _sum = new double[length];
        _staged = new float[length];
    }

    public int Length => _sum.Length;

    public double TotalWeight { get; private set; }

    public int Count { get; private set; }

    /// <summary>Adds <paramref name="weight"/> × <paramref name="values"/> into the slice starting at <paramref name="offset"/>.</summary>
    public void AddSlice(int offset, ReadOnlySpan<float> values, double weight)
    {
        var target = _staged.AsSpan(offset, values.Length);
        TensorPrimitives.MultiplyAdd(values, (float)weight, target, target);
    }

    /// <summary>Adds <paramref name="weight"/> × value at each of <paramref name="indices"/> (relative to <paramref name="offset"/>).</summary>
    public void AddSparse(int offset, ReadOnlySpan<uint> indices, ReadOnlySpan<float> values, double weight)
    {
        var target = _staged.AsSpan(offset);
        var w = (float)weight;
        for (var i = 0; i < indices.Length; i++) target[(int)indices[i]] += w * values[i];
    }

    /// <summary>Marks one contribution of total weight <paramref name="weight"/> as complete.</summary>
    public void Commit(double weight)
    {
        TotalWeight += weight;
        Count++;
        if (++_stagedCount >= FoldEvery) Fold();
    }

    public void Add(ReadOnlySpan<float> values, double weight)
    {
        if (values.Length != _sum.Length) throw new ArgumentException($"Expected {_sum.Length} values, got {values.Length}.", nameof(values));
        AddSlice(0, values, weight);
        Commit(weight);
    }

    /// <summary>The weighted mean of everything added (zeros if nothing was).</summary>
    public float[] Mean() => Scaled(TotalWeight > 0 ? 1.0 / TotalWeight : 0);

    /// <summary>The sum of everything added, times <paramref name="factor"/>.</summary>
    public float[] Scaled(double factor)
    {
        Fold();
        var result = new float[_sum.Length];
        for (var i = 0; i < result.Length; i++) result[i] = (float)(_sum[i] * factor);
        return result;
    }

    private void Fold()
    {
        if (_stagedCount == 0) return;
        for (var i = 0; i < _sum.Length; i++) _sum[i] += _staged[i];
        Array.Clear(_staged);
        _stagedCount = 0;
    }
}
