namespace EdgeMlOps.Shared.Aggregation;

/// <summary>
/// Selection in O(n) on average (Hoare's quickselect with a median-of-three pivot), the kernel
/// under coordinate-wise median, trimmed mean and top-k sparsification. Reorders its input.
/// </summary>
public static class OrderStatistics
{
    private const int SmallRange = 16;

    /// <summary>
    /// Rearranges <paramref name="values"/> so that position <paramref name="k"/> holds the value it
    /// would hold if sorted, everything before it is ≤ and everything after it is ≥. Returns that value.
    /// </summary>
    public static float Select(Span<float> values, int k)
    {
        if ((uint)k >= (uint)values.Length) throw new ArgumentOutOfRangeException(nameof(k));
        var lo = 0;
        var hi = values.Length - 1;
        while (hi - lo > SmallRange)
        {
            // Median of three into values[lo], with values[lo+1] ≤ it ≤ values[hi] as sentinels.
            var mid = lo + ((hi - lo) >> 1);
            Swap(values, mid, lo + 1);
            if (values[lo] > values[hi]) Swap(values, lo, hi);
            if (values[lo + 1] > values[hi]) Swap(values, lo + 1, hi);
            if (values[lo] > values[lo + 1]) Swap(values, lo, lo + 1);

            // Now values[lo] ≤ values[lo+1] ≤ values[hi]; the pivot is values[lo+1].
            var pivot = values[lo + 1];
            var i = lo + 1;
            var j = hi;
            while (true)
            {
                do i++; while (values[i] < pivot);
                do j--; while (values[j] > pivot);
                if (j < i) break;
                Swap(values, i, j);
            }

            values[lo + 1] = values[j];
            values[j] = pivot;
            if (j >= k) hi = j - 1;
            if (j <= k) lo = i;
        }

        if (hi > lo) InsertionSort(values.Slice(lo, hi - lo + 1));
        return values[k];
    }

    /// <summary>The median (mean of the two middle values for an even count). Reorders <paramref name="values"/>.</summary>
    public static float Median(Span<float> values)
    {
        var n = values.Length;
        if (n == 0) throw new ArgumentException("No values.", nameof(values));
        var upper = Select(values, n >> 1);
        if ((n & 1) == 1) return upper;

        // Select left everything ≤ upper below n/2: the lower middle is the largest of them.
        var lower = values[0];
        for (var i = 1; i < n >> 1; i++) if (values[i] > lower) lower = values[i];
        return (float)(((double)lower + upper) * 0.5);
    }

    /// <summary>
    /// Mean after dropping the <paramref name="trim"/> smallest and <paramref name="trim"/> largest
    /// values (trimmed mean, Yin et al. 2018). Reorders <paramref name="values"/>.
    /// </summary>
    public static float TrimmedMean(Span<float> values, int trim)
    {
        var n = values.Length;
        if (trim < 0 || 2 * trim >= n) throw new ArgumentOutOfRangeException(nameof(trim), $"cannot trim {trim} from each end of {n} values");
        if (trim > 0)
        {
            Select(values, trim);
            Select(values[trim..], n - 2 * trim - 1);
        }

        double sum = 0;
        foreach (var v in values.Slice(trim, n - 2 * trim)) sum += v;
        return (float)(sum / (n - 2 * trim));
    }

    private static void InsertionSort(Span<float> values)
    {
        for (var i = 1; i < values.Length; i++)
        {
            var v = values[i];
            var j = i - 1;
            while (j >= 0 && values[j] > v)
            {
                values[j + 1] = values[j];
                j--;
            }

            values[j + 1] = v;
        }
    }

    private static void Swap(Span<float> values, int a, int b) => (values[a], values[b]) = (values[b], values[a]);
}
