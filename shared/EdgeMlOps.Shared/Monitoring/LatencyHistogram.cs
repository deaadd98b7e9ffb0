namespace EdgeMlOps.Shared.Monitoring;

/// <summary>
/// A mergeable log-scale histogram of durations: bucket i holds values in
/// [2^((i-1)/4), 2^(i/4)) microseconds, so a reported quantile is within 19% (2^(1/4) − 1) of the
/// true value, from 1 µs to ~16 s, in 96 counters. Thread-safe recording; merging adds counts.
/// </summary>
public sealed class LatencyHistogram
{
    public const int BucketCount = 96;
    private readonly long[] _counts = new long[BucketCount];
    private long _total;

    public long Count => Interlocked.Read(ref _total);

    public void Record(TimeSpan duration)
    {
        var micros = Math.Max(duration.Ticks / 10.0, 1.0);
        var index = Math.Clamp((int)Math.Ceiling(4 * Math.Log2(micros)), 0, BucketCount - 1);
        Interlocked.Increment(ref _counts[index]);
        Interlocked.Increment(ref _total);
    }

    /// <summary>Upper bound of the bucket holding quantile <paramref name="q"/> (0 &lt; q ≤ 1), or zero if empty.</summary>
    public TimeSpan Quantile(double q)
    {
        if (q is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(q));
        var total = Count;
        if (total == 0) return TimeSpan.Zero;
        var rank = (long)Math.Ceiling(q * total);
        long seen = 0;
        for (var i = 0; i < BucketCount; i++)
        {
            seen += Interlocked.Read(ref _counts[i]);
            if (seen >= rank) return TimeSpan.FromTicks((long)(Math.Pow(2, i / 4.0) * 10));
        }

        return TimeSpan.FromTicks((long)(Math.Pow(2, (BucketCount - 1) / 4.0) * 10));
    }

    /// <summary>Adds another histogram's counts (devices' histograms merge into fleet percentiles).</summary>
    public void Merge(LatencyHistogram other)
    {
        for (var i = 0; i < BucketCount; i++) Interlocked.Add(ref _counts[i], Interlocked.Read(ref other._counts[i]));
        Interlocked.Add(ref _total, other.Count);
    }

    public long[] Snapshot() => _counts.Select(c => Interlocked.Read(ref c)).ToArray();

    /// <summary>Rebuilds a histogram from reported bucket counts (exactly <see cref="BucketCount"/>, each at most 2^40).</summary>
    public static LatencyHistogram FromCounts(IReadOnlyList<ulong> counts)
    {
        if (counts.Count != BucketCount) throw new InvalidDataException($"{counts.Count} latency buckets, expected {BucketCount}");
        var histogram = new LatencyHistogram();
        for (var i = 0; i < BucketCount; i++)
        {
            if (counts[i] > 1UL << 40) throw new InvalidDataException("impossible latency count");
            histogram._counts[i] = (long)counts[i];
            histogram._total += (long)counts[i];
        }

        return histogram;
    }
}
