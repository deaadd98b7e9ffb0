namespace EdgeMlOps.Shared.Protocol;

/// <summary>
/// Times on the wire are Unix milliseconds in an int64, which holds instants no <see cref="DateTimeOffset"/> can (before
/// year 1 or after 9999): read straight, a forged or broken message's time throws where it is used. These read them
/// without throwing.
/// </summary>
public static class WireTime
{
    private static readonly long Earliest = DateTimeOffset.MinValue.ToUnixTimeMilliseconds();
    private static readonly long Latest = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

    /// <summary>The instant, or the nearest one a date holds (a deadline past any date is no deadline; a start before any, at once).</summary>
    public static DateTimeOffset Nearest(long unixMs) => DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(unixMs, Earliest, Latest));

    /// <summary>A time a sender states, or null for none (0 or less) and for one no date holds.</summary>
    public static DateTimeOffset? Stated(long unixMs) => unixMs > 0 && unixMs <= Latest ? DateTimeOffset.FromUnixTimeMilliseconds(unixMs) : null;

    /// <summary>For a message: the instant in ISO 8601, or the number when no date holds it.</summary>
    public static string Describe(long unixMs) =>
        unixMs >= Earliest && unixMs <= Latest
            ? DateTimeOffset.FromUnixTimeMilliseconds(unixMs).ToString("u", System.Globalization.CultureInfo.InvariantCulture)
            : unixMs.ToString(System.Globalization.CultureInfo.InvariantCulture) + " ms after 1970 (no date)";
}
