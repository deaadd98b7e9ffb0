namespace EdgeMlOps.Shared.Configuration;

/// <summary>
/// The known name a mistyped one most likely meant (case-insensitive Levenshtein distance within max(2, length / 5)),
/// for "did you mean …?" in configuration keys and command-line options.
/// </summary>
public static class NearestName
{
    /// <summary>The nearest of <paramref name="known"/> to <paramref name="typed"/>, or null when none is close.</summary>
    public static string? Suggest(string typed, IEnumerable<string> known)
    {
        var nearest = known.MinBy(k => Distance(k, typed));
        return nearest is not null && Distance(nearest, typed) <= Math.Max(2, typed.Length / 5) ? nearest : null;
    }

    /// <summary>Levenshtein distance, case-insensitive (configuration keys are).</summary>
    public static int Distance(string a, string b)
    {
        a = a.ToLowerInvariant();
        b = b.ToLowerInvariant();
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) previous[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
