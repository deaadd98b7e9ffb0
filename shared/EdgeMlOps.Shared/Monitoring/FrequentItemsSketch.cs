namespace EdgeMlOps.Shared.Monitoring;

/// <summary>
/// A mergeable frequent-items sketch for a categorical feature (Misra–Gries, merged as in Agarwal
/// et al. 2012, "Mergeable summaries"): at most k counters. Every estimate undercounts by at most
/// <see cref="MaximumError"/>, which stays ≤ n / (k + 1) through any sequence of adds and merges;
/// with no more than k distinct categories the counts are exact. Items are category codes (the
/// float a model input carries for the category).
/// </summary>
public sealed class FrequentItemsSketch
{
    public const int DefaultK = 64;

    private readonly Dictionary<float, long> _counters = new();

    public FrequentItemsSketch(int k = DefaultK)
    {
        if (k < 2 || k > 4096) throw new ArgumentOutOfRangeException(nameof(k), "k must be in [2, 4096]");
        K = k;
    }

    public int K { get; }

    /// <summary>Values added (over every sketch merged in).</summary>
    public long Count { get; private set; }

    /// <summary>How much any estimate may undercount (the sum of the decrements so far).</summary>
    public long MaximumError { get; private set; }

    public bool IsEmpty => Count == 0;

    /// <summary>Tracked categories and their (lower-bound) counts, most frequent first.</summary>
    public IReadOnlyList<KeyValuePair<float, long>> Items =>
        _counters.OrderByDescending(c => c.Value).ThenBy(c => c.Key).ToArray();

    /// <summary>Lower bound of the count of <paramref name="item"/>; the true count is at most this plus <see cref="MaximumError"/>.</summary>
    public long Estimate(float item) => _counters.GetValueOrDefault(Normalize(item));

    public void Add(float item)
    {
        if (!float.IsFinite(item)) throw new ArgumentException("category codes are finite", nameof(item));
        item = Normalize(item);
        Count++;
        if (_counters.TryGetValue(item, out var count))
        {
            _counters[item] = count + 1;
            return;
        }

        if (_counters.Count < K)
        {
            _counters[item] = 1;
            return;
        }

        // Full and a new item: the new item and every counter lose one (k + 1 distinct values lose one each).
        MaximumError++;
        foreach (var key in _counters.Keys.ToArray())
        {
            if (--_counters[key] == 0) _counters.Remove(key);
        }
    }

    /// <summary>Folds <paramref name="other"/> in (it is not changed); the result keeps this k.</summary>
    public void Merge(FrequentItemsSketch other)
    {
        if (other.Count == 0) return;
        foreach (var (item, count) in other._counters) _counters[item] = _counters.GetValueOrDefault(item) + count;
        Count += other.Count;
        MaximumError += other.MaximumError;
        Prune();
    }

    /// <summary>Rebuilds a sketch from its reported parts, refusing impossible ones.</summary>
    public static FrequentItemsSketch FromParts(int k, long count, long maximumError, IReadOnlyList<float> items, IReadOnlyList<long> counts)
    {
        if (k < 2 || k > 4096) throw new InvalidDataException($"k {k} is outside [2, 4096]");
        if (count < 0 || maximumError < 0 || maximumError > count) throw new InvalidDataException("impossible count or error");
        if (items.Count != counts.Count) throw new InvalidDataException($"{items.Count} items but {counts.Count} counts");
        if (items.Count > k) throw new InvalidDataException($"{items.Count} items in a sketch of k = {k}");
        var sketch = new FrequentItemsSketch(k) { Count = count, MaximumError = maximumError };
        long sum = 0;
        for (var i = 0; i < items.Count; i++)
        {
            if (!float.IsFinite(items[i])) throw new InvalidDataException("non-finite category");
            if (counts[i] <= 0) throw new InvalidDataException("a tracked category with a count below one");
            if (!sketch._counters.TryAdd(Normalize(items[i]), counts[i])) throw new InvalidDataException($"category {items[i]} listed twice");
            sum += counts[i];
            if (sum > count) throw new InvalidDataException($"category counts add up to more than the {count} values");
        }

        // Every decrement of the error removed k + 1 units of count from the counters.
        if (sum + maximumError * (k + 1L) > count + (long)k * k) throw new InvalidDataException("counts and error do not add up");
        return sketch;
    }

    /// <summary>Keeps the k largest counters: subtracts the (k+1)-th largest from all and drops what reaches zero.</summary>
    private void Prune()
    {
        if (_counters.Count <= K) return;
        var values = _counters.Values.ToArray();
        Array.Sort(values);
        Array.Reverse(values);
        var cut = values[K];
        MaximumError += cut;
        foreach (var key in _counters.Keys.ToArray())
        {
            var left = _counters[key] - cut;
            if (left <= 0) _counters.Remove(key);
            else _counters[key] = left;
        }
    }

    /// <summary>−0 and +0 are one category.</summary>
    private static float Normalize(float item) => item == 0 ? 0f : item;
}
