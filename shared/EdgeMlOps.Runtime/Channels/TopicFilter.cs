namespace EdgeMlOps.Runtime.Channels;

/// <summary>MQTT topic filters: <c>+</c> matches one level, a trailing <c>#</c> any number (including none).</summary>
public static class TopicFilter
{
    /// <summary>True if the filter has no wildcard (it matches exactly one topic).</summary>
    public static bool IsExact(string filter) => filter.AsSpan().IndexOfAny('+', '#') < 0;

    /// <summary>Checks a filter's syntax; null when valid, else the reason.</summary>
    public static string? Validate(string filter)
    {
        if (filter.Length == 0) return "empty filter";
        if (filter.StartsWith("$share/", StringComparison.Ordinal)) return "shared subscriptions are not supported by this channel";
        var levels = filter.Split('/');
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if (level.Contains('#') && (level != "#" || i != levels.Length - 1)) return "'#' must be a whole last level";
            if (level.Contains('+') && level != "+") return "'+' must be a whole level";
        }

        return null;
    }

    /// <summary>True if <paramref name="topic"/> matches <paramref name="filter"/> (MQTT 5, section 4.7).</summary>
    public static bool Matches(string filter, string topic)
    {
        // Wildcards at the first level do not match topics starting with '$' (broker-internal topics).
        if (topic.StartsWith('$') && (filter.StartsWith('+') || filter.StartsWith('#'))) return false;
        var f = filter.AsSpan();
        var t = topic.AsSpan();
        while (true)
        {
            var fi = f.IndexOf('/');
            var level = fi < 0 ? f : f[..fi];
            if (level is "#") return true;
            var ti = t.IndexOf('/');
            var topicLevel = ti < 0 ? t : t[..ti];
            if (!(level is "+") && !level.SequenceEqual(topicLevel)) return false;
            if (fi < 0 || ti < 0)
            {
                // Both must end together, except "a/#" also matches "a".
                return fi < 0 && ti < 0 || (ti < 0 && f[(fi + 1)..] is "#");
            }

            f = f[(fi + 1)..];
            t = t[(ti + 1)..];
        }
    }
}
