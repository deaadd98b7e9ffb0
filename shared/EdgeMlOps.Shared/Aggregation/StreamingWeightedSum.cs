using System.Numerics;
using System.Runtime.InteropServices;

namespace EdgeMlOps.Shared.Aggregation;

/// <summary>
/// Folds weighted vectors in as they arrive: memory is one double per parameter, whatever the
/// number of contributors. Sums in double so the result hardly depends on arrival order, which
/// keeps simulated runs reproducible.
/// </summary>
public sealed class StreamingWeightedSum
{
    private readonly double[] _sum;

    public StreamingWeightedSum(int length)
    {
        _sum = new double[length];
    }

    public int Length => _sum.Length;

    public double TotalWeight { get; private set; }

    public int Count { get; private set; }

    /// <summary>Adds <paramref name="weight"/> × <paramref name="values"/> into the slice starting at <paramref name="offset"/>.</summary>
    public void AddSlice(int offset, ReadOnlySpan<float> values, double weight) =>
        MultiplyAdd(values, weight, _sum.AsSpan(offset, values.Length));

    /// <summary>Marks one contribution of total weight <paramref name="weight"/> as complete.</summary>
    public void Commit(double weight)
    {
        TotalWeight += weight;
        Count++;
    }

    public void Add(ReadOnlySpan<float> values, double weight)
    {
        if (values.Length != _sum.Length) throw new ArgumentException($"Expected {_sum.Length} values, got {values.Length}.", nameof(values));
        AddSlice(0, values, weight);
        Commit(weight);
    }

    /// <summary>The weighted mean of everything added (zeros if nothing was).</summary>
    public float[] Mean()
    {
        var result = new float[_sum.Length];
        if (TotalWeight <= 0) return result;
        var inverse = 1.0 / TotalWeight;
        for (var i = 0; i < result.Length; i++) result[i] = (float)(_sum[i] * inverse);
        return result;
    }

    /// <summary>sum[i] += weight * (double)values[i], vectorised (float lanes widened to double).</summary>
    internal static void MultiplyAdd(ReadOnlySpan<float> values, double weight, Span<double> sum)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated && values.Length >= Vector<float>.Count)
        {
            var w = new Vector<double>(weight);
            var src = MemoryMarshal.Cast<float, Vector<float>>(values);
            var dst = MemoryMarshal.Cast<double, Vector<double>>(sum[..(src.Length * Vector<float>.Count)]);
            for (var v = 0; v < src.Length; v++)
            {
                Vector.Widen(src[v], out var lo, out var hi);
                dst[2 * v] += lo * w;
                dst[2 * v + 1] += hi * w;
            }

            i = src.Length * Vector<float>.Count;
        }

        for (; i < values.Length; i++) sum[i] += weight * values[i];
    }
}
