namespace EdgeMlOps.Aggregator.Rollouts;

/// <summary>
/// A latency guardrail that is relative and absolute, as experiment platforms set guardrails: a version is too slow
/// only when its p95 is above the allowed multiple of the baseline's <em>and</em> at least a floor of milliseconds
/// above it. A ratio alone counts a model answering in 0.108 ms against 0.045 ms as 2.4× slower — a gap no caller
/// can notice, and one that scheduling noise on a loaded device produces by itself; the floor keeps the guard on what
/// matters, and for models that take milliseconds the ratio decides as before.
/// </summary>
public static class LatencyLimit
{
    /// <summary>The floor when a rollout does not set one: one millisecond.</summary>
    public const double DefaultMinIncreaseMs = 1.0;

    /// <summary>True when <paramref name="candidateMs"/> exceeds both <paramref name="maxRatio"/> × <paramref name="baselineMs"/> and <paramref name="baselineMs"/> + <paramref name="minIncreaseMs"/> (a ratio of 0 turns the guard off).</summary>
    public static bool Exceeded(double candidateMs, double baselineMs, double maxRatio, double minIncreaseMs) =>
        maxRatio > 0 && baselineMs > 0 && candidateMs > maxRatio * baselineMs && candidateMs - baselineMs >= minIncreaseMs;

    /// <summary>Throws <see cref="ArgumentException"/> for a limit no reading could meet sensibly.</summary>
    public static void Validate(string owner, double maxRatio, double minIncreaseMs)
    {
        if (!(maxRatio == 0 || maxRatio >= 1)) throw new ArgumentException($"{owner}: maxLatencyP95Ratio must be 0 (off) or at least 1");
        if (!(minIncreaseMs >= 0 && double.IsFinite(minIncreaseMs))) throw new ArgumentException($"{owner}: minLatencyIncreaseMs must be a finite number of milliseconds, at least 0");
    }
}
