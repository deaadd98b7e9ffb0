using EdgeMlOps.Shared.Privacy;

namespace EdgeMlOps.Aggregator.Rollouts;

/// <summary>What the ground truth says about a target version against the one it replaces.</summary>
public enum AccuracyVerdict
{
    /// <summary>Confidently no worse than the replaced version by more than the allowed drop.</summary>
    Pass,

    /// <summary>Confidently worse by more than the allowed drop.</summary>
    Fail,

    /// <summary>Not enough labelled predictions yet to tell either way.</summary>
    Inconclusive,
}

/// <summary>
/// Compares ground-truth accuracy of a target version and the replaced one as a non-inferiority test on the
/// difference of two proportions, with the Agresti–Caffo interval (one success and one failure added to each side).
/// A stage passes on accuracy only when the interval's lower end is above −drop, and aborts only when its upper
/// end is below −drop; in between it waits for more feedback. Comparing point estimates instead passes a version
/// that is 14 points worse about one time in ten at 50 labelled predictions.
/// </summary>
public static class AccuracyComparison
{
    /// <summary>The interval on (target − replaced) accuracy and what it says against <paramref name="maxDrop"/>.</summary>
    /// <param name="targetCorrect">Labelled predictions the target version got right.</param>
    /// <param name="targetTotal">Labelled predictions on the target version.</param>
    /// <param name="replacedCorrect">Labelled predictions the replaced version got right.</param>
    /// <param name="replacedTotal">Labelled predictions on the replaced version.</param>
    /// <param name="maxDrop">Largest accuracy drop allowed (0.05: five points).</param>
    /// <param name="confidence">One-sided confidence of each decision (0.95: z = 1.645).</param>
    public static (AccuracyVerdict Verdict, double Difference, double Lower, double Upper) Judge(
        long targetCorrect, long targetTotal, long replacedCorrect, long replacedTotal, double maxDrop, double confidence)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(targetCorrect);
        ArgumentOutOfRangeException.ThrowIfNegative(replacedCorrect);
        ArgumentOutOfRangeException.ThrowIfLessThan(targetTotal, targetCorrect);
        ArgumentOutOfRangeException.ThrowIfLessThan(replacedTotal, replacedCorrect);
        var z = SpecialFunctions.NormalQuantile(confidence);
        var pt = (targetCorrect + 1.0) / (targetTotal + 2.0);
        var pr = (replacedCorrect + 1.0) / (replacedTotal + 2.0);
        var difference = pt - pr;
        var se = Math.Sqrt(pt * (1 - pt) / (targetTotal + 2.0) + pr * (1 - pr) / (replacedTotal + 2.0));
        var (lower, upper) = (difference - z * se, difference + z * se);
        var verdict = upper < -maxDrop ? AccuracyVerdict.Fail : lower > -maxDrop ? AccuracyVerdict.Pass : AccuracyVerdict.Inconclusive;
        return (verdict, difference, lower, upper);
    }

    /// <summary>
    /// The same decision with the devices split into strata (a cohort tag's values: hardware, region), when the target's
    /// devices and the replaced version's are not the same mix: a canary of mostly slow or hard-to-serve devices makes
    /// a pooled comparison blame the version for its devices (Simpson's paradox), and a favourable mix hides a version
    /// worse everywhere. Each stratum present on both sides gives its Agresti–Caffo difference; they are combined with
    /// the Cochran–Mantel–Haenszel weights nₜ·nᵣ/(nₜ + nᵣ), the variance with the squared weights. Strata on one side
    /// only do not count (they cannot be compared); none on both sides is inconclusive.
    /// </summary>
    public static (AccuracyVerdict Verdict, double Difference, double Lower, double Upper) JudgeStratified(
        IEnumerable<(long TargetCorrect, long TargetTotal, long ReplacedCorrect, long ReplacedTotal)> strata, double maxDrop, double confidence)
    {
        double weights = 0, weighted = 0, variance = 0;
        foreach (var s in strata)
        {
            if (s.TargetTotal <= 0 || s.ReplacedTotal <= 0) continue;
            ArgumentOutOfRangeException.ThrowIfLessThan(s.TargetTotal, s.TargetCorrect);
            ArgumentOutOfRangeException.ThrowIfLessThan(s.ReplacedTotal, s.ReplacedCorrect);
            var pt = (s.TargetCorrect + 1.0) / (s.TargetTotal + 2.0);
            var pr = (s.ReplacedCorrect + 1.0) / (s.ReplacedTotal + 2.0);
            var w = (double)s.TargetTotal * s.ReplacedTotal / (s.TargetTotal + s.ReplacedTotal);
            weights += w;
            weighted += w * (pt - pr);
            variance += w * w * (pt * (1 - pt) / (s.TargetTotal + 2.0) + pr * (1 - pr) / (s.ReplacedTotal + 2.0));
        }

        if (weights <= 0) return (AccuracyVerdict.Inconclusive, double.NaN, double.NaN, double.NaN);
        var z = SpecialFunctions.NormalQuantile(confidence);
        var difference = weighted / weights;
        var se = Math.Sqrt(variance) / weights;
        var (lower, upper) = (difference - z * se, difference + z * se);
        var verdict = upper < -maxDrop ? AccuracyVerdict.Fail : lower > -maxDrop ? AccuracyVerdict.Pass : AccuracyVerdict.Inconclusive;
        return (verdict, difference, lower, upper);
    }

    /// <summary>
    /// The same decision for paired outcomes — both versions judged on the same labelled requests (a shadow test) —
    /// from the discordant pairs alone (McNemar's design), with the Agresti–Min interval (half a pair added to each
    /// cell). Pairing removes the request-to-request variance, so it decides on far fewer labels than
    /// <see cref="Judge"/>.
    /// </summary>
    /// <param name="onlyTargetCorrect">Pairs only the target got right.</param>
    /// <param name="onlyReplacedCorrect">Pairs only the replaced version got right.</param>
    /// <param name="pairs">Labelled pairs in all.</param>
    /// <param name="maxDrop">Largest accuracy drop allowed.</param>
    /// <param name="confidence">One-sided confidence of each decision.</param>
    public static (AccuracyVerdict Verdict, double Difference, double Lower, double Upper) JudgePaired(
        long onlyTargetCorrect, long onlyReplacedCorrect, long pairs, double maxDrop, double confidence)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(onlyTargetCorrect);
        ArgumentOutOfRangeException.ThrowIfNegative(onlyReplacedCorrect);
        ArgumentOutOfRangeException.ThrowIfLessThan(pairs, onlyTargetCorrect + onlyReplacedCorrect);
        var z = SpecialFunctions.NormalQuantile(confidence);
        var n = pairs + 2.0;
        var (c, b) = (onlyTargetCorrect + 0.5, onlyReplacedCorrect + 0.5);
        var difference = (c - b) / n;
        var se = Math.Sqrt(Math.Max(0, (b + c) / n - difference * difference) / n);
        var (lower, upper) = (difference - z * se, difference + z * se);
        var verdict = upper < -maxDrop ? AccuracyVerdict.Fail : lower > -maxDrop ? AccuracyVerdict.Pass : AccuracyVerdict.Inconclusive;
        return (verdict, difference, lower, upper);
    }
}
