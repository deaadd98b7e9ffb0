using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
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

    /// <summary>Adds what the last <see cref="Combine"/> found worth reporting (Krum: inputs, kept, kept-norm ratio) to the round's notes.</summary>
    void Report(Federated.StrategyNotes notes)
    {
    }
}

/// <summary>
/// A combiner whose state is a sum, so that shares built in several processes (aggregator replicas, edge gateways)
/// add up to what one process would have built. Statistics that need every update at once (median, trimmed mean,
/// Krum) are not: they run where all updates are.
/// </summary>
public interface IPartialCombiner : IUpdateCombiner
{
    /// <summary>Whether it sums in 128-bit fixed point (<see cref="StreamingWeightedSum"/>'s exact mode), which bounds what a contribution may add.</summary>
    bool IsExact { get; }

    /// <summary>Writes what was added so far into <paramref name="share"/>.</summary>
    void ExportTo(PartialAggregate share);

    /// <summary>Adds a share another process exported (same rule, same length).</summary>
    void Merge(PartialAggregate share);
}

/// <summary>Weighted mean, decoded and accumulated as each update arrives (FedAvg).</summary>
public sealed class MeanCombiner : IPartialCombiner
{
    private readonly StreamingWeightedSum _sum;
    private readonly double? _fixedDenominator;

    /// <summary>
    /// A mean over vectors of <paramref name="length"/>; with <paramref name="fixedDenominator"/>, the sum divided by it
    /// instead of the total weight (DP-FedAvg's fixed-denominator estimator); <paramref name="exact"/>: independent of
    /// arrival order, bit for bit (see <see cref="StreamingWeightedSum"/>).
    /// </summary>
    public MeanCombiner(int length, double? fixedDenominator = null, bool exact = false)
    {
        _sum = new StreamingWeightedSum(length, exact);
        _fixedDenominator = fixedDenominator;
    }

    public int Count => _sum.Count;

    public bool IsExact => _sum.IsExact;

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

    public void ExportTo(PartialAggregate share) => _sum.ExportTo(share);

    public void Merge(PartialAggregate share) => _sum.Merge(share);
}

/// <summary>
/// Keeps every update decoded in memory for statistics that need all of them at once. With a bucket size s > 1 the
/// updates are first shuffled (seeded) and averaged s at a time, by samples, and the statistic runs on the bucket
/// means (Karimireddy, He and Jaggi 2022, "Byzantine-robust learning on heterogeneous datasets via bucketing"): b
/// hostile updates still spoil at most b buckets, while the honest inputs the statistic sees vary s times less.
/// </summary>
public abstract class BufferedCombiner : IUpdateCombiner
{
    private readonly int _length;
    private readonly int _bucketSize;
    private readonly int _bucketSeed;
    private readonly List<float[]> _rows = new();
    private readonly List<Contribution> _contributions = new();

    protected BufferedCombiner(int length, int bucketSize = 1, int bucketSeed = 0)
    {
        if (bucketSize < 1) throw new ArgumentOutOfRangeException(nameof(bucketSize), "bucket size must be ≥ 1");
        _length = length;
        _bucketSize = bucketSize;
        _bucketSeed = bucketSeed;
    }

    public int Count => _rows.Count;

    /// <summary>How many inputs the statistic saw at the last <see cref="Combine"/>: updates, or buckets when bucketing.</summary>
    public int Inputs { get; private set; }

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
        _rows.Add(row);
        _contributions.Add(contribution);
    }

    public float[] Combine()
    {
        if (Count == 0) throw new InvalidOperationException("No updates to combine.");
        var (rows, contributions) = _bucketSize > 1 && Count > 1 ? Buckets() : (_rows, _contributions);
        Inputs = rows.Count;
        return CombineRows(rows, contributions);
    }

    /// <summary>The statistic over <paramref name="rows"/> (updates or bucket means) and what each stands for.</summary>
    protected abstract float[] CombineRows(IReadOnlyList<float[]> rows, IReadOnlyList<Contribution> contributions);

    private (List<float[]> Rows, List<Contribution> Contributions) Buckets()
    {
        // Shuffled from device order, not arrival order, so a round's buckets are reproducible.
        var order = Enumerable.Range(0, Count).OrderBy(i => _contributions[i].DeviceId, StringComparer.Ordinal).ThenBy(i => i).ToArray();
        new Random(_bucketSeed).Shuffle(order);
        var rows = new List<float[]>();
        var contributions = new List<Contribution>();
        foreach (var bucket in order.Chunk(_bucketSize))
        {
            var sum = new StreamingWeightedSum(_length);
            long samples = 0;
            foreach (var i in bucket)
            {
                sum.Add(_rows[i], Math.Max(1, _contributions[i].Samples));
                samples += Math.Max(1, _contributions[i].Samples);
            }

            rows.Add(sum.Mean());
            contributions.Add(new Contribution(string.Join('+', bucket.Select(i => _contributions[i].DeviceId)), bucket.Sum(i => _contributions[i].Weight), 1, samples));
        }

        return (rows, contributions);
    }
}

/// <summary>Coordinate-wise median (Yin et al. 2018; Flower's FedMedian). Unweighted.</summary>
public sealed class MedianCombiner(int length, int maxParallelism = 1, int bucketSize = 1, int bucketSeed = 0) : BufferedCombiner(length, bucketSize, bucketSeed)
{
    protected override float[] CombineRows(IReadOnlyList<float[]> rows, IReadOnlyList<Contribution> contributions) =>
        CoordinateWise.Median(rows, Length, maxParallelism);
}

/// <summary>Coordinate-wise β-trimmed mean (Yin et al. 2018; Flower's FedTrimmedAvg). Unweighted.</summary>
public sealed class TrimmedMeanCombiner : BufferedCombiner
{
    private readonly double _beta;
    private readonly int _maxParallelism;

    /// <summary>Trims the share <paramref name="beta"/> (in [0, 0.5)) from each end of every coordinate.</summary>
    public TrimmedMeanCombiner(int length, double beta, int maxParallelism = 1, int bucketSize = 1, int bucketSeed = 0)
        : base(length, bucketSize, bucketSeed)
    {
        if (beta is < 0 or >= 0.5) throw new ArgumentOutOfRangeException(nameof(beta), "beta must be in [0, 0.5)");
        _beta = beta;
        _maxParallelism = maxParallelism;
    }

    protected override float[] CombineRows(IReadOnlyList<float[]> rows, IReadOnlyList<Contribution> contributions)
    {
        var trim = (int)Math.Floor(_beta * rows.Count);
        if (2 * trim >= rows.Count) trim = (rows.Count - 1) / 2;
        return CoordinateWise.TrimmedMean(rows, Length, trim, _maxParallelism);
    }
}

/// <summary>
/// Krum and Multi-Krum (Blanchard et al. 2017): score each update by the summed squared
/// distance to its n − f − 2 nearest others, keep the <c>m</c> best and average them by samples
/// (m = 1 is Krum). Tolerates f Byzantine updates when n ≥ 2f + 3.
/// </summary>
public sealed class KrumCombiner : BufferedCombiner, IUpdateCombiner
{
    private readonly int _byzantine;
    private readonly int _keep;

    public KrumCombiner(int length, int byzantine, int keep = 1, int bucketSize = 1, int bucketSeed = 0)
        : base(length, bucketSize, bucketSeed)
    {
        if (byzantine < 0) throw new ArgumentOutOfRangeException(nameof(byzantine));
        if (keep < 1) throw new ArgumentOutOfRangeException(nameof(keep));
        _byzantine = byzantine;
        _keep = keep;
    }

    /// <summary>Indices (in arrival order; in bucket order when bucketing) of the inputs the last <see cref="IUpdateCombiner.Combine"/> kept.</summary>
    public IReadOnlyList<int> Kept { get; private set; } = [];

    /// <summary>
    /// Mean L2 norm of the kept inputs over the median norm of all the round's inputs (NaN before a combine). Krum
    /// scores by squared distance, so with similar devices it favours short updates: a ratio well below 1 says it keeps
    /// the devices that moved the model least.
    /// </summary>
    public double KeptNormRatio { get; private set; } = double.NaN;

    public void Report(Federated.StrategyNotes notes)
    {
        notes["krum.inputs"] = Inputs;
        notes["krum.kept"] = Kept.Count;
        notes["krum.kept_norm_ratio"] = KeptNormRatio;
    }

    protected override float[] CombineRows(IReadOnlyList<float[]> rows, IReadOnlyList<Contribution> contributions)
    {
        var n = rows.Count;
        var distances = new double[n, n];
        Parallel.For(0, n, i =>
        {
            for (var j = i + 1; j < n; j++)
            {
                var d = (double)TensorPrimitives.Distance<float>(rows[i], rows[j]);
                distances[i, j] = d * d;
                distances[j, i] = d * d;
            }
        });

        // With too few updates for the guarantee, score on as many neighbours as there are.
        var neighbours = Math.Clamp(n - _byzantine - 2, 1, Math.Max(1, n - 1));
        var scores = new double[n];
        var nearest = new double[n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++) nearest[j] = distances[i, j];
            nearest[i] = double.PositiveInfinity;
            Array.Sort(nearest);
            double score = 0;
            for (var j = 0; j < Math.Min(neighbours, n - 1); j++) score += nearest[j];
            scores[i] = score;
        }

        Kept = Enumerable.Range(0, n).OrderBy(i => scores[i]).ThenBy(i => i).Take(Math.Min(_keep, n)).ToArray();
        var norms = rows.Select(r => TensorPrimitives.Norm<float>(r)).ToArray();
        var keptNorm = Kept.Average(i => (double)norms[i]);
        var median = OrderStatistics.Median(norms);
        KeptNormRatio = median > 0 ? keptNorm / median : double.NaN;
        var sum = new StreamingWeightedSum(Length);
        foreach (var i in Kept) sum.Add(rows[i], Math.Max(1, contributions[i].Samples));
        return sum.Mean();
    }
}

/// <summary>
/// Coordinate-wise median and trimmed mean over buffered rows. With AVX2, eight coordinates are
/// reduced at once: a 256-coordinate block of every row is gathered into cache (one row's block is
/// sixteen adjacent cache lines), each float becomes an order-preserving integer key, and a radix
/// select finds the k-th key in all eight lanes, one branch-free pass over the block per bit until at
/// most 16 keys per lane are left (typically 9–13 passes), then a small sort. Without
/// SIMD each coordinate's column is gathered and reduced by quickselect.
/// </summary>
public static class CoordinateWise
{
    private const int Lanes = 8;
    private const int BlockWidth = 32 * Lanes;

    public static float[] Median(IReadOnlyList<float[]> rows, int length, int maxParallelism = 1) =>
        Reduce(rows, length, maxParallelism, trim: -1);

    public static float[] TrimmedMean(IReadOnlyList<float[]> rows, int length, int trim, int maxParallelism = 1)
    {
        if (trim < 0 || 2 * trim >= rows.Count) throw new ArgumentOutOfRangeException(nameof(trim), $"cannot trim {trim} from each end of {rows.Count} values");
        return Reduce(rows, length, maxParallelism, trim);
    }

    /// <summary>trim &lt; 0 means median.</summary>
    private static float[] Reduce(IReadOnlyList<float[]> rows, int length, int maxParallelism, int trim)
    {
        var n = rows.Count;
        if (n == 0) throw new ArgumentException("No rows.", nameof(rows));
        var result = new float[length];
        var blocks = (length + BlockWidth - 1) / BlockWidth;
        var workers = Math.Max(1, Math.Min(maxParallelism, blocks));
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, worker =>
        {
            var keys = new uint[BlockWidth * n];
            var column = new float[n];
            for (var block = worker; block < blocks; block += workers)
            {
                var start = block * BlockWidth;
                var width = Math.Min(BlockWidth, length - start);
                var vectorWidth = Vector256.IsHardwareAccelerated ? width / Lanes * Lanes : 0;
                if (vectorWidth > 0)
                {
                    Gather(rows, start, vectorWidth, keys);
                    for (var lane = 0; lane < vectorWidth; lane += Lanes)
                    {
                        ReduceLanes(keys.AsSpan(lane * n, Lanes * n), n, trim).CopyTo(result.AsSpan(start + lane, Lanes));
                    }
                }

                for (var c = vectorWidth; c < width; c++)
                {
                    for (var r = 0; r < n; r++) column[r] = rows[r][start + c];
                    result[start + c] = trim < 0 ? OrderStatistics.Median(column) : OrderStatistics.TrimmedMean(column, trim);
                }
            }
        });

        return result;
    }

    /// <summary>Keys for <paramref name="width"/> (a multiple of 8) coordinates from <paramref name="start"/>; group g holds rows × 8 lanes at keys[g·8·n ..].</summary>
    private static void Gather(IReadOnlyList<float[]> rows, int start, int width, uint[] keys)
    {
        var n = rows.Count;
        ref var destination = ref MemoryMarshal.GetArrayDataReference(keys);
        for (var r = 0; r < n; r++)
        {
            ref var source = ref MemoryMarshal.GetArrayDataReference(rows[r]);
            for (var lane = 0; lane < width; lane += Lanes)
            {
                var bits = Vector256.LoadUnsafe(ref source, (nuint)(start + lane)).AsUInt32();
                ToKey(bits).StoreUnsafe(ref destination, (nuint)(lane * n + r * Lanes));
            }
        }
    }

    /// <summary>Median or trimmed mean of 8 coordinates whose keys are laid out row by row (n × 8).</summary>
    private static Vector256<float> ReduceLanes(ReadOnlySpan<uint> keys, int n, int trim)
    {
        ref var keyRef = ref MemoryMarshal.GetReference(keys);
        if (trim < 0)
        {
            if ((n & 1) == 1) return FromKey(Select(keys, n, n / 2));
            var lower = Select(keys, n, n / 2 - 1);

            // The upper middle is the lower one again if it repeats, else the smallest key above it.
            var lowerOrdered = Ordered(lower);
            var countLe = Vector256<int>.Zero;
            var minAbove = Vector256.Create(int.MaxValue);
            for (var r = 0; r < n; r++)
            {
                var key = Ordered(Vector256.LoadUnsafe(ref keyRef, (nuint)(r * Lanes)));
                var le = Vector256.LessThanOrEqual(key, lowerOrdered);
                countLe -= le;
                minAbove = Vector256.Min(minAbove, Vector256.ConditionalSelect(le, Vector256.Create(int.MaxValue), key));
            }

            var upper = Vector256.ConditionalSelect(Vector256.GreaterThan(countLe, Vector256.Create(n / 2)), lowerOrdered, minAbove);
            var (lo0, lo1) = Vector256.Widen(FromKey(lower));
            var (hi0, hi1) = Vector256.Widen(FromKey(Unordered(upper)));
            return Vector256.Narrow((lo0 + hi0) * 0.5, (lo1 + hi1) * 0.5);
        }

        var narrowed = Narrow<TwoRanks>(keys, n, trim, n - trim - 1);
        if (narrowed.Stopped) return TrimmedMeanOfNarrowed(keys, n, trim, narrowed);
        var (low, high) = (narrowed.PrefixLo, narrowed.PrefixHi);
        var lowOrdered = Ordered(low);
        var highOrdered = Ordered(high);
        var countLeLow = Vector256<int>.Zero;
        var countLtHigh = Vector256<int>.Zero;
        Vector256<double> between0 = Vector256<double>.Zero, between1 = Vector256<double>.Zero;
        for (var r = 0; r < n; r++)
        {
            var raw = Vector256.LoadUnsafe(ref keyRef, (nuint)(r * Lanes));
            var key = Ordered(raw);
            var leLow = Vector256.LessThanOrEqual(key, lowOrdered);
            var ltHigh = Vector256.LessThan(key, highOrdered);
            countLeLow -= leLow;
            countLtHigh -= ltHigh;
            var inside = Vector256.AndNot(ltHigh, leLow).AsSingle();
            var (v0, v1) = Vector256.Widen(FromKey(raw) & inside);
            between0 += v0;
            between1 += v1;
        }

        // Window [trim, n − trim): copies of the low value, everything strictly between, copies of the high value.
        var windowEnd = Vector256.Create(n - trim);
        var lowCopies = Vector256.Min(countLeLow, windowEnd) - Vector256.Create(trim);
        var highCopies = windowEnd - Vector256.Max(countLtHigh, countLeLow);
        var lowValue = FromKey(low);
        var highValue = FromKey(high);
        var (lc0, lc1) = Vector256.Widen(lowCopies);
        var (hc0, hc1) = Vector256.Widen(highCopies);
        var (lv0, lv1) = Vector256.Widen(lowValue);
        var (hv0, hv1) = Vector256.Widen(highValue);
        var inverse = 1.0 / (n - 2 * trim);
        var mean0 = (Vector256.ConvertToDouble(lc0) * lv0 + between0 + Vector256.ConvertToDouble(hc0) * hv0) * inverse;
        var mean1 = (Vector256.ConvertToDouble(lc1) * lv1 + between1 + Vector256.ConvertToDouble(hc1) * hv1) * inverse;
        return Vector256.ConditionalSelect(Vector256.Equals(low, high).AsSingle(), lowValue, Vector256.Narrow(mean0, mean1));
    }

    /// <summary>
    /// The key of rank <paramref name="rank"/> in every lane: the sweeps of <see cref="Narrow{TRanks}"/>, then, if they
    /// stopped early, one sweep copying out the few keys left and a small sort per lane.
    /// </summary>
    private static Vector256<uint> Select(ReadOnlySpan<uint> keys, int n, int rank)
    {
        var narrowed = Narrow<OneRank>(keys, n, rank, rank);
        return narrowed.Stopped ? Finish(keys, n, narrowed.Found, narrowed.PrefixLo, narrowed.RankLo) : narrowed.PrefixLo;
    }

    /// <summary>
    /// Where the sweeps of a select stopped: per lane, the fixed high bits (<see cref="Found"/>) of each rank's key and
    /// that rank among the keys sharing them. Not <see cref="Stopped"/>: all 32 bits are fixed and the prefixes are the keys.
    /// </summary>
    private readonly record struct Narrowed(Vector256<uint> PrefixLo, Vector256<uint> PrefixHi, Vector256<int> RankLo, Vector256<int> RankHi, Vector256<uint> Found, bool Stopped);

    /// <summary>
    /// MSB-first radix select in all eight lanes, for one rank or two at once. Each sweep counts, per lane, the keys that
    /// agree with the prefix so far and have the next bit clear, which fixes that bit of the answer. Sweeps stop as soon
    /// as no lane has more than <see cref="FewCandidates"/> keys left that agree with its prefix (after the sign and
    /// exponent bits of typical updates, a few dozen); the caller finishes from there. Many equal keys run all 32 bits.
    /// </summary>
    private static Narrowed Narrow<TRanks>(ReadOnlySpan<uint> keys, int n, int rankLo, int rankHi)
        where TRanks : struct, IRanks
    {
        var prefixLo = Vector256<uint>.Zero;
        var prefixHi = Vector256<uint>.Zero;
        var kLo = Vector256.Create(rankLo);
        var kHi = Vector256.Create(rankHi);
        var leftLo = Vector256.Create(n);
        var leftHi = Vector256.Create(n);
        var few = Vector256.Create(FewCandidates);
        ref var k = ref MemoryMarshal.GetReference(keys);
        var pairs = n & ~1;
        for (var bit = 31; bit >= 0; bit--)
        {
            // Count keys that agree with the prefix on the bits above this one and have it clear.
            // Two rows per iteration into separate counters, so the adds do not wait on each other.
            var mask = Vector256.Create(~((1u << bit) - 1));
            Vector256<int> lo0 = Vector256<int>.Zero, lo1 = Vector256<int>.Zero, hi0 = Vector256<int>.Zero, hi1 = Vector256<int>.Zero;
            var r = 0;
            for (; r < pairs; r += 2)
            {
                var a = Vector256.LoadUnsafe(ref k, (nuint)(r * Lanes)) & mask;
                var b = Vector256.LoadUnsafe(ref k, (nuint)((r + 1) * Lanes)) & mask;
                lo0 -= Vector256.Equals(a, prefixLo).AsInt32();
                lo1 -= Vector256.Equals(b, prefixLo).AsInt32();
                if (TRanks.Two)
                {
                    hi0 -= Vector256.Equals(a, prefixHi).AsInt32();
                    hi1 -= Vector256.Equals(b, prefixHi).AsInt32();
                }
            }

            if (r < n)
            {
                var a = Vector256.LoadUnsafe(ref k, (nuint)(r * Lanes)) & mask;
                lo0 -= Vector256.Equals(a, prefixLo).AsInt32();
                if (TRanks.Two) hi0 -= Vector256.Equals(a, prefixHi).AsInt32();
            }

            var bitValue = Vector256.Create(1u << bit);
            var countLo = lo0 + lo1;
            var setLo = Vector256.GreaterThanOrEqual(kLo, countLo);
            prefixLo |= setLo.AsUInt32() & bitValue;
            kLo -= setLo & countLo;
            leftLo = Vector256.ConditionalSelect(setLo, leftLo - countLo, countLo);
            var done = Vector256.LessThanOrEqualAll(leftLo, few);
            if (TRanks.Two)
            {
                var countHi = hi0 + hi1;
                var setHi = Vector256.GreaterThanOrEqual(kHi, countHi);
                prefixHi |= setHi.AsUInt32() & bitValue;
                kHi -= setHi & countHi;
                leftHi = Vector256.ConditionalSelect(setHi, leftHi - countHi, countHi);
                done &= Vector256.LessThanOrEqualAll(leftHi, few);
            }

            if (done && bit > 0) return new Narrowed(prefixLo, prefixHi, kLo, kHi, Vector256.Create(~((1u << bit) - 1)), Stopped: true);
            if (bit == 31) bit -= SkipCommonBits<TRanks>(keys, n, ref prefixLo, ref prefixHi);
        }

        return new Narrowed(prefixLo, prefixHi, kLo, kHi, Vector256<uint>.AllBitsSet, Stopped: false);
    }

    /// <summary>
    /// The trimmed mean when the select stopped early, in one sweep instead of three (a finishing sweep per rank and a
    /// summing sweep): keys whose fixed bits lie strictly between the two ranks' are kept and summed; the few keys
    /// sharing the low rank's bits, and the high rank's, are copied out, sorted, and the kept ones among them added.
    /// </summary>
    private static Vector256<float> TrimmedMeanOfNarrowed(ReadOnlySpan<uint> keys, int n, int trim, Narrowed narrowed)
    {
        Span<uint> lows = stackalloc uint[Lanes * FewCandidates];
        Span<uint> highs = stackalloc uint[Lanes * FewCandidates];
        Span<int> lowCount = stackalloc int[Lanes];
        Span<int> highCount = stackalloc int[Lanes];
        lowCount.Clear();
        highCount.Clear();
        var found = narrowed.Found;
        var prefixLo = narrowed.PrefixLo;
        var prefixHi = narrowed.PrefixHi;
        var above = Ordered(prefixLo);
        var below = Ordered(prefixHi);
        var separate = ~Vector256.Equals(prefixLo, prefixHi);
        Vector256<double> between0 = Vector256<double>.Zero, between1 = Vector256<double>.Zero;
        ref var k = ref MemoryMarshal.GetReference(keys);
        for (var r = 0; r < n; r++)
        {
            var raw = Vector256.LoadUnsafe(ref k, (nuint)(r * Lanes));
            var bits = raw & found;
            var ordered = Ordered(bits);
            var inside = Vector256.GreaterThan(ordered, above) & Vector256.LessThan(ordered, below);
            var (v0, v1) = Vector256.Widen(FromKey(raw) & inside.AsSingle());
            between0 += v0;
            between1 += v1;
            Collect(Vector256.Equals(bits, prefixLo).ExtractMostSignificantBits(), raw, lows, lowCount);
            Collect((Vector256.Equals(bits, prefixHi) & separate).ExtractMostSignificantBits(), raw, highs, highCount);
        }

        Span<float> result = stackalloc float[Lanes];
        var kept = n - 2 * trim;
        for (var lane = 0; lane < Lanes; lane++)
        {
            var sum = lane < 4 ? between0.GetElement(lane) : between1.GetElement(lane - 4);
            var rankLo = narrowed.RankLo.GetElement(lane);
            var rankHi = narrowed.RankHi.GetElement(lane);
            var low = lows.Slice(lane * FewCandidates, lowCount[lane]);
            low.Sort();
            if (separate.GetElement(lane) == 0)
            {
                // Both ranks among the same few keys: keep ranks rankLo..rankHi of them.
                for (var i = rankLo; i <= rankHi; i++) sum += FromKey(low[i]);
            }
            else
            {
                var high = highs.Slice(lane * FewCandidates, highCount[lane]);
                high.Sort();
                for (var i = rankLo; i < low.Length; i++) sum += FromKey(low[i]);
                for (var i = 0; i <= rankHi; i++) sum += FromKey(high[i]);
            }

            result[lane] = (float)(sum / kept);
        }

        return Vector256.Create<float>(result);
    }

    private static void Collect(uint hits, Vector256<uint> row, Span<uint> into, Span<int> counts)
    {
        while (hits != 0)
        {
            var lane = System.Numerics.BitOperations.TrailingZeroCount(hits);
            hits &= hits - 1;
            into[lane * FewCandidates + counts[lane]++] = row.GetElement(lane);
        }
    }

    private static float FromKey(uint key) => BitConverter.UInt32BitsToSingle(key ^ ((uint)((int)~key >> 31) | 0x8000_0000u));

    /// <summary>
    /// Once the sign is fixed, the keys that are left usually share their top exponent bits (updates of similar
    /// magnitude). One sweep finds the bits below the sign on which every remaining key agrees, in every lane and for
    /// both ranks; those bits of the answer are known without a sweep each. Returns how many it fixed.
    /// </summary>
    private static int SkipCommonBits<TRanks>(ReadOnlySpan<uint> keys, int n, ref Vector256<uint> prefixLo, ref Vector256<uint> prefixHi)
        where TRanks : struct, IRanks
    {
        var sign = Vector256.Create(0x8000_0000u);
        Vector256<uint> andLo = Vector256<uint>.AllBitsSet, orLo = Vector256<uint>.Zero, andHi = Vector256<uint>.AllBitsSet, orHi = Vector256<uint>.Zero;
        ref var k = ref MemoryMarshal.GetReference(keys);
        for (var r = 0; r < n; r++)
        {
            var key = Vector256.LoadUnsafe(ref k, (nuint)(r * Lanes));
            var inLo = Vector256.Equals(key & sign, prefixLo);
            andLo &= key | ~inLo;
            orLo |= key & inLo;
            if (TRanks.Two)
            {
                var inHi = Vector256.Equals(key & sign, prefixHi);
                andHi &= key | ~inHi;
                orHi |= key & inHi;
            }
        }

        var agree = ~(andLo ^ orLo);
        if (TRanks.Two) agree &= ~(andHi ^ orHi);
        var common = uint.MaxValue;
        for (var lane = 0; lane < Lanes; lane++) common &= agree.GetElement(lane);

        // Bits 30, 29, ... on which all agree, up to the first that differs somewhere.
        var run = System.Numerics.BitOperations.LeadingZeroCount(~(common << 1));
        if (run == 0) return 0;
        var skipped = Vector256.Create(0x7FFF_FFFFu & ~((1u << (31 - run)) - 1));
        prefixLo |= andLo & skipped;
        if (TRanks.Two) prefixHi |= andHi & skipped;
        return run;
    }

    /// <summary>Keys left per lane below which a select stops sweeping and sorts them instead.</summary>
    private const int FewCandidates = 16;

    /// <summary>
    /// In each lane, the key of rank <paramref name="rank"/> among the keys whose bits under
    /// <paramref name="found"/> equal <paramref name="prefix"/> (at most <see cref="FewCandidates"/> per lane).
    /// </summary>
    private static Vector256<uint> Finish(ReadOnlySpan<uint> keys, int n, Vector256<uint> found, Vector256<uint> prefix, Vector256<int> rank)
    {
        Span<uint> candidates = stackalloc uint[Lanes * FewCandidates];
        Span<int> counts = stackalloc int[Lanes];
        counts.Clear();
        ref var k = ref MemoryMarshal.GetReference(keys);
        for (var r = 0; r < n; r++)
        {
            var row = Vector256.LoadUnsafe(ref k, (nuint)(r * Lanes));
            Collect(Vector256.Equals(row & found, prefix).ExtractMostSignificantBits(), row, candidates, counts);
        }

        Span<uint> result = stackalloc uint[Lanes];
        for (var lane = 0; lane < Lanes; lane++)
        {
            var mine = candidates.Slice(lane * FewCandidates, counts[lane]);
            mine.Sort();
            result[lane] = mine[rank.GetElement(lane)];
        }

        return Vector256.Create<uint>(result);
    }

    private interface IRanks
    {
        static abstract bool Two { get; }
    }

    private readonly struct OneRank : IRanks
    {
        public static bool Two => false;
    }

    private readonly struct TwoRanks : IRanks
    {
        public static bool Two => true;
    }

    /// <summary>Float bits → uint whose unsigned order is the float order (negative: all bits flipped; positive: sign bit set).</summary>
    private static Vector256<uint> ToKey(Vector256<uint> bits) =>
        bits ^ (Vector256.ShiftRightArithmetic(bits.AsInt32(), 31).AsUInt32() | Vector256.Create(0x8000_0000u));

    private static Vector256<float> FromKey(Vector256<uint> key) =>
        (key ^ (Vector256.ShiftRightArithmetic((~key).AsInt32(), 31).AsUInt32() | Vector256.Create(0x8000_0000u))).AsSingle();

    /// <summary>The key as a signed integer with the same order (AVX2 compares signed integers natively).</summary>
    private static Vector256<int> Ordered(Vector256<uint> key) => (key ^ Vector256.Create(0x8000_0000u)).AsInt32();

    private static Vector256<uint> Unordered(Vector256<int> ordered) => ordered.AsUInt32() ^ Vector256.Create(0x8000_0000u);
}
