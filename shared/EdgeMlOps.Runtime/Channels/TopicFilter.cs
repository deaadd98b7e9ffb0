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
        if (filter.StartsWith(SharePrefix, StringComparison.Ordinal))
        {
            if (!TryParseShared(filter, out var group, out var inner)) return "a shared subscription is $share/{group}/{filter}";
            if (group.AsSpan().IndexOfAny('+', '#') >= 0) return "a share group name cannot hold a wildcard";
            filter = inner;
        }

        var levels = filter.Split('/');
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if (level.Contains('#') && (level != "#" || i != levels.Length - 1)) return "'#' must be a whole last level";
            if (level.Contains('+') && level != "+") return "'+' must be a whole level";
        }

        return null;
    }

    private const string SharePrefix = "$share/";

    /// <summary>Splits an MQTT 5 shared subscription <c>$share/{group}/{filter}</c>; false for any other filter.</summary>
    public static bool TryParseShared(string filter, out string group, out string inner)
    {
        (group, inner) = (string.Empty, string.Empty);
        if (!filter.StartsWith(SharePrefix, StringComparison.Ordinal)) return false;
        var slash = filter.IndexOf('/', SharePrefix.Length);
        if (slash <= SharePrefix.Length || slash == filter.Length - 1) return false;
        (group, inner) = (filter[SharePrefix.Length..slash], filter[(slash + 1)..]);
        return true;
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
