using System.Diagnostics;

namespace EdgeMlOps.Bench;

/// <summary>How the hand-timed benchmarks time a call and summarize rounds: microseconds of one call, the median of many.</summary>
internal static class Timing
{
    /// <summary>Microseconds <paramref name="action"/> took.</summary>
    public static double Micros(Action action)
    {
        var started = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(started).TotalMicroseconds;
    }

    /// <summary>The middle value (the upper one of an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }
}
