namespace EdgeMlOps.Shared.Monitoring;

/// <summary>
/// A mergeable profile of one numeric feature (whylogs-like): count, mean and M2 (Welford, merged
/// with Chan et al.'s formula), min/max, missing (NaN) and non-finite (±∞) counts, and a KLL
/// quantile sketch of the finite values; for a categorical feature (values are category codes) a
/// frequent-items sketch instead of the quantile sketch.
/// </summary>
public sealed class FeatureProfile(int k = KllSketch.DefaultK, bool categorical = false, ulong? seed = null)
{
    /// <summary>Quantiles of a numeric feature (empty for a categorical one); <c>seed</c> fixes its compaction coin (tests).</summary>
    public KllSketch Sketch { get; private set; } = new(k, seed);

    /// <summary>Category counts of a categorical feature; null for a numeric one.</summary>
    public FrequentItemsSketch? Categories { get; private set; } = categorical ? new FrequentItemsSketch() : null;

    public bool IsCategorical => Categories is not null;

    /// <summary>Finite values seen.</summary>
    public long Count { get; private set; }

    public double Mean { get; private set; }

    /// <summary>Sum of squared deviations from the mean.</summary>
    public double M2 { get; private set; }

    public long Missing { get; private set; }

    public long NonFinite { get; private set; }

    public double Variance => Count > 1 ? M2 / (Count - 1) : 0;

    public double StdDev => Math.Sqrt(Variance);

    public void Add(float value)
    {
        if (float.IsNaN(value))
        {
            Missing++;
            return;
        }

        if (!float.IsFinite(value))
        {
            NonFinite++;
            return;
        }

        Count++;
        var delta = value - Mean;
        Mean += delta / Count;
        M2 += delta * (value - Mean);
        if (Categories is { } categories) categories.Add(value);
        else Sketch.Add(value);
    }

    public void Merge(FeatureProfile other)
    {
        if (other.IsCategorical != IsCategorical) throw new ArgumentException("a categorical and a numeric profile do not merge");
        if (other.Count > 0)
        {
            var n = Count + other.Count;
            var delta = other.Mean - Mean;
            M2 += other.M2 + delta * delta * Count * other.Count / n;
            Mean += delta * other.Count / n;
            Count = n;
            Sketch.Merge(other.Sketch);
            Categories?.Merge(other.Categories!);
        }

        Missing += other.Missing;
        NonFinite += other.NonFinite;
    }

    /// <summary>Rebuilds a profile from its reported parts, rejecting impossible values.</summary>
    public static FeatureProfile FromParts(long count, double mean, double m2, long missing, long nonFinite, KllSketch sketch, FrequentItemsSketch? categories = null)
    {
        if (count < 0 || missing < 0 || nonFinite < 0) throw new InvalidDataException("negative count");
        if (!double.IsFinite(mean) || !double.IsFinite(m2) || m2 < 0) throw new InvalidDataException("mean or M2 is not a finite, non-negative figure");
        if (categories is not null)
        {
            if (categories.Count != count) throw new InvalidDataException($"category sketch holds {categories.Count} values, profile says {count}");
            if (!sketch.IsEmpty) throw new InvalidDataException("a categorical feature with a quantile sketch");
            return new FeatureProfile(sketch.K) { Count = count, Mean = count > 0 ? mean : 0, M2 = count > 1 ? m2 : 0, Missing = missing, NonFinite = nonFinite, Categories = categories };
        }

        if (sketch.Count != count) throw new InvalidDataException($"sketch holds {sketch.Count} values, profile says {count}");
        // No check of the mean against the sketch's [min, max]: under the device's sketch policy those are the
        // retained extremes, not the exact ones, and a sparse input's exact mean (a pixel that is 0 in all but
        // one row) can lie outside them. Refusing such profiles emptied monitoring on real data.
        return new FeatureProfile(sketch.K) { Count = count, Mean = count > 0 ? mean : 0, M2 = count > 1 ? m2 : 0, Missing = missing, NonFinite = nonFinite, Sketch = sketch };
    }
}
