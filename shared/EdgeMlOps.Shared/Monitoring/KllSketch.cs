namespace EdgeMlOps.Shared.Monitoring;

/// <summary>
/// A mergeable quantile sketch (Karnin, Lang and Liberty 2016, "KLL"), for floats. Levels of
/// compactors; an item at level h stands for 2^h values. When the sketch is over capacity the
/// lowest full level is sorted and every other item (from a random offset) moves up a level.
/// With k = 200 the normalized rank error is at most about 1.65% with 99% confidence (the
/// figure Apache DataSketches publishes for its KLL with k = 200); the tests check merged
/// sketches against exact ranks. Memory is O(k log(n/k)) items; merging is appending levels and
/// compacting. Non-finite values are not accepted: callers count them separately.
/// </summary>
public sealed class KllSketch
{
    public const int DefaultK = 200;
    private const double LevelShrink = 2.0 / 3.0;

    private readonly List<List<float>> _levels = [new()];
    private int[] _capacities = [];
    private int _totalCapacity;
    private int _retained;
    private ulong _random;

    /// <param name="k">Accuracy parameter (items of the top level).</param>
    /// <param name="seed">Seed of the compaction coin; null draws one. Sketches that are merged must not share a
    /// seed: with the same coin every device would keep the same half of its pairs and the merged ranks would
    /// carry that bias instead of averaging it out (and a published item's pick would be predictable).</param>
    public KllSketch(int k = DefaultK, ulong? seed = null)
    {
        if (k < 8 || k > 65_535) throw new ArgumentOutOfRangeException(nameof(k), "k must be in [8, 65535]");
        K = k;
        _random = seed ?? (ulong)Random.Shared.NextInt64();
        if (_random == 0) _random = 0x9E3779B97F4A7C15UL;
        UpdateCapacities();
    }

    public int K { get; }

    /// <summary>Values added (over every sketch merged in).</summary>
    public long Count { get; private set; }

    public float Min { get; private set; } = float.PositiveInfinity;

    public float Max { get; private set; } = float.NegativeInfinity;

    public int LevelCount => _levels.Count;

    /// <summary>Items retained (what is serialized).</summary>
    public int RetainedItems => _retained;

    public IReadOnlyList<IReadOnlyList<float>> Levels => _levels;

    public bool IsEmpty => Count == 0;

    public void Add(float value)
    {
        if (!float.IsFinite(value)) throw new ArgumentException("KLL sketches take finite values only", nameof(value));
        _levels[0].Add(value);
        _retained++;
        Count++;
        if (value < Min) Min = value;
        if (value > Max) Max = value;
        if (_levels[0].Count >= _capacities[0]) Compress();
    }

    /// <summary>Folds <paramref name="other"/> in (it is not changed). Sketches of any k merge; the result keeps this k.</summary>
    public void Merge(KllSketch other)
    {
        if (other.Count == 0) return;
        while (_levels.Count < other._levels.Count) _levels.Add(new());
        UpdateCapacities();
        for (var h = 0; h < other._levels.Count; h++) _levels[h].AddRange(other._levels[h]);
        _retained += other._retained;
        Count += other.Count;
        Min = Math.Min(Min, other.Min);
        Max = Math.Max(Max, other.Max);
        Compress();
    }

    /// <summary>
    /// Compacts whole levels, lowest first, until no item sits below <paramref name="minLevel"/> and at
    /// most <paramref name="maxItems"/> items are retained (0: no cap). Before a device publishes a
    /// sketch: from level 1 up every item stands for at least two values and was picked at random
    /// from a sorted pair, so a given input's value is published with probability at most one half.
    /// The error grows as if the sketch had fewer items; a lone item left over moves up (and an odd
    /// one out moves up with probability one half, so ranks stay unbiased). <see cref="Count"/> stays exact.
    /// </summary>
    public void Compact(int minLevel, int maxItems = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minLevel);
        if (maxItems != 0 && maxItems < 8) throw new ArgumentOutOfRangeException(nameof(maxItems), "keep at least 8 items (or 0 for no cap)");
        for (var h = 0; h < _levels.Count; h++)
        {
            var tooLow = h < minLevel;
            var tooMany = maxItems > 0 && _retained > maxItems;
            if (!tooLow && !tooMany) break;
            if (_levels[h].Count > 0) CompactWholeLevel(h);
        }

        if (minLevel > 0 && _retained > 0)
        {
            // The exact extremes are raw values too: publish the retained ones instead.
            Min = _levels.SelectMany(l => l).Min();
            Max = _levels.SelectMany(l => l).Max();
        }
    }

    private void CompactWholeLevel(int h)
    {
        if (h + 1 == _levels.Count)
        {
            _levels.Add(new());
            UpdateCapacities();
        }

        var level = _levels[h];
        level.Sort();
        var up = _levels[h + 1];
        var pairs = level.Count / 2 * 2;
        var offset = (int)(NextRandom() & 1);
        for (var i = offset; i < pairs; i += 2) up.Add(level[i]);
        _retained -= pairs / 2;
        if (level.Count % 2 == 1)
        {
            if (pairs == 0 || (NextRandom() & 1) == 1) up.Add(level[^1]);
            else _retained--;
        }

        level.Clear();
    }

    /// <summary>Estimated share of values ≤ <paramref name="value"/>.</summary>
    public double Rank(double value)
    {
        if (Count == 0) return double.NaN;
        if (value < Min) return 0;
        if (value >= Max) return 1;
        double below = 0;
        double total = 0;
        for (var h = 0; h < _levels.Count; h++)
        {
            var weight = (double)(1L << h);
            foreach (var item in _levels[h])
            {
                total += weight;
                if (item <= value) below += weight;
            }
        }

        return total == 0 ? double.NaN : below / total;
    }

    /// <summary>Estimated value at quantile <paramref name="q"/> in [0, 1] (0 is the minimum, 1 the maximum).</summary>
    public double Quantile(double q) => Quantiles([q])[0];

    /// <summary>Several quantiles at once (one sort of the retained items).</summary>
    public double[] Quantiles(IReadOnlyList<double> qs)
    {
        var result = new double[qs.Count];
        if (Count == 0)
        {
            Array.Fill(result, double.NaN);
            return result;
        }

        var (items, cumulative) = Sorted();
        var total = cumulative[^1];
        for (var i = 0; i < qs.Count; i++)
        {
            var q = Math.Clamp(qs[i], 0, 1);
            if (q <= 0) result[i] = Min;
            else if (q >= 1) result[i] = Max;
            else
            {
                var target = q * total;
                var index = Array.BinarySearch(cumulative, target);
                if (index < 0) index = ~index;
                result[i] = items[Math.Min(index, items.Length - 1)];
            }
        }

        return result;
    }

    /// <summary>Rebuilds a sketch from its serialized parts, checking them (bad input from a device must not corrupt a merge).</summary>
    public static KllSketch FromParts(int k, long count, float min, float max, IReadOnlyList<int> levelSizes, IReadOnlyList<float> items)
    {
        if (k < 8 || k > 65_535) throw new InvalidDataException($"k {k} is outside [8, 65535]");
        if (count < 0) throw new InvalidDataException("negative count");
        if (levelSizes.Count > 62 || levelSizes.Any(s => s < 0) || levelSizes.Sum(s => (long)s) != items.Count) throw new InvalidDataException("level sizes do not add up to the items");
        if (items.Any(v => !float.IsFinite(v))) throw new InvalidDataException("non-finite item");
        double weight = 0;
        for (var h = 0; h < levelSizes.Count; h++) weight += levelSizes[h] * Math.Pow(2, h);
        if (count == 0 ? items.Count != 0 : weight == 0 || weight > count * 2.0 + 1 || weight < count / 2.0 - 1)
        {
            throw new InvalidDataException($"items weigh {weight}, inconsistent with count {count}");
        }

        if (count > 0 && (!(min <= max) || items.Any(v => v < min || v > max))) throw new InvalidDataException("items outside [min, max]");
        var sketch = new KllSketch(k) { Count = count, Min = count == 0 ? float.PositiveInfinity : min, Max = count == 0 ? float.NegativeInfinity : max };
        sketch._levels.Clear();
        var offset = 0;
        foreach (var size in levelSizes)
        {
            sketch._levels.Add(items.Skip(offset).Take(size).ToList());
            offset += size;
        }

        if (sketch._levels.Count == 0) sketch._levels.Add(new());
        sketch._retained = items.Count;
        sketch.UpdateCapacities();
        return sketch;
    }

    private (float[] Items, double[] Cumulative) Sorted()
    {
        var all = new List<(float Item, double Weight)>(RetainedItems);
        for (var h = 0; h < _levels.Count; h++)
        {
            foreach (var item in _levels[h]) all.Add((item, 1L << h));
        }

        all.Sort((a, b) => a.Item.CompareTo(b.Item));
        var items = new float[all.Count];
        var cumulative = new double[all.Count];
        double running = 0;
        for (var i = 0; i < all.Count; i++)
        {
            items[i] = all[i].Item;
            running += all[i].Weight;
            cumulative[i] = running;
        }

        return (items, cumulative);
    }

    /// <summary>Capacity of level h: k at the top, shrinking by 2/3 per level below, at least 8 (recomputed when a level is added).</summary>
    private void UpdateCapacities()
    {
        _capacities = new int[_levels.Count];
        _totalCapacity = 0;
        for (var h = 0; h < _levels.Count; h++)
        {
            _capacities[h] = Math.Max(8, (int)Math.Ceiling(K * Math.Pow(LevelShrink, _levels.Count - 1 - h)));
            _totalCapacity += _capacities[h];
        }
    }

    private void Compress()
    {
        while (_retained >= _totalCapacity)
        {
            for (var h = 0; h < _levels.Count; h++)
            {
                if (_levels[h].Count < _capacities[h]) continue;
                if (h + 1 == _levels.Count)
                {
                    _levels.Add(new());
                    UpdateCapacities();
                }

                var level = _levels[h];
                level.Sort();

                // An odd item out stays; the rest halves into the next level from a random offset (unbiased ranks).
                var keepOdd = level.Count % 2 == 1;
                var odd = keepOdd ? level[^1] : 0f;
                var pairs = level.Count - (keepOdd ? 1 : 0);
                var offset = (int)(NextRandom() & 1);
                var up = _levels[h + 1];
                for (var i = offset; i < pairs; i += 2) up.Add(level[i]);
                _retained -= pairs / 2;
                level.Clear();
                if (keepOdd) level.Add(odd);
                break;
            }
        }
    }

    private ulong NextRandom()
    {
        // xorshift64*: reproducible per sketch, no shared state between threads.
        _random ^= _random >> 12;
        _random ^= _random << 25;
        _random ^= _random >> 27;
        return _random * 2685821657736338717UL;
    }
}
