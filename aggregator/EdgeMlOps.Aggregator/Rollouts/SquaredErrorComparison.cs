using EdgeMlOps.Shared.Privacy;

namespace EdgeMlOps.Aggregator.Rollouts;

/// <summary>
/// Compares the mean squared error of two versions measured on different requests (a stage's target devices against
/// devices still on the replaced version): the difference of the two means with a normal (Welch) interval, against an
/// allowed increase of a share of the replaced version's error — the unpaired counterpart of
/// <see cref="ShadowGate.JudgeSquaredError"/>, which pairs both versions on the same requests.
/// </summary>
public static class SquaredErrorComparison
{
    /// <summary>
    /// Fail when the interval of (target − replaced) lies above <paramref name="maxIncrease"/> × the replaced mean, pass
    /// when it lies at or below it, inconclusive in between. Each side is (sum of per-request squared errors, sum of
    /// their squares, requests); one request on a side gives an unbounded interval (inconclusive).
    /// </summary>
    public static (AccuracyVerdict Verdict, double Difference, double Lower, double Upper) JudgeUnpaired(
        (double Sum, double Squares, long N) target, (double Sum, double Squares, long N) replaced, double maxIncrease, double confidence)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(target.N, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(replaced.N, 1);
        var (mt, vt) = MeanAndVariance(target);
        var (mr, vr) = MeanAndVariance(replaced);
        var difference = mt - mr;
        var half = SpecialFunctions.NormalQuantile(confidence) * Math.Sqrt((vt / target.N) + (vr / replaced.N));
        var allowed = maxIncrease * mr;
        var (lower, upper) = (difference - half, difference + half);
        var verdict = lower > allowed ? AccuracyVerdict.Fail : upper <= allowed ? AccuracyVerdict.Pass : AccuracyVerdict.Inconclusive;
        return (verdict, difference, lower, upper);
    }

    private static (double Mean, double Variance) MeanAndVariance((double Sum, double Squares, long N) side)
    {
        var mean = side.Sum / side.N;
        return (mean, side.N > 1 ? Math.Max(0, (side.Squares - (side.N * mean * mean)) / (side.N - 1)) : double.PositiveInfinity);
    }
}
