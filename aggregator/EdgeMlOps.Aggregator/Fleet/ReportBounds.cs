using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Rollouts;

namespace EdgeMlOps.Aggregator.Fleet;

/// <summary>
/// Whether a device's shadow or A/B report can be true: every count within a bound that keeps fleet sums from
/// overflowing, and the counts consistent with each other (scored ≤ offered, agreed ≤ scored, labelled ≤ scored,
/// discordant pairs ≤ labelled, confusion cells ≤ labelled, …). A report that fails is dropped before any gate sums it: a forged one must not
/// break the gate (an exception) or outweigh the fleet by overflow.
/// </summary>
public static class ReportBounds
{
    /// <summary>Largest count a device may report (2^40: a million devices' sums stay far inside a long).</summary>
    public const ulong MaxCount = 1UL << 40;

    public static bool IsPlausible(ShadowReport r) =>
        r.Offered <= MaxCount && r.Scored <= r.Offered && r.CandidateErrors <= MaxCount
        && r.SkippedSample <= r.Offered && r.SkippedBudget <= r.Offered && r.SkippedQueue <= r.Offered && r.SkippedState <= r.Offered
        && r.Agreed <= r.Scored && r.Labelled <= r.Scored
        && r.IncumbentCorrect <= r.Labelled && r.CandidateCorrect <= r.Labelled
        && r.OnlyIncumbentCorrect <= r.IncumbentCorrect && r.OnlyCandidateCorrect <= r.CandidateCorrect
        && r.OnlyIncumbentCorrect + r.OnlyCandidateCorrect <= r.Labelled
        && double.IsFinite(r.DistanceSum) && r.DistanceSum >= 0 && r.DistanceSum <= r.Scored
        && double.IsFinite(r.DistanceMax) && r.DistanceMax is >= 0 and <= 1
        && Latency(r.IncumbentLatencyP95Ms) && Latency(r.CandidateLatencyP50Ms) && Latency(r.CandidateLatencyP95Ms)
        && Values(r);

    public static bool IsPlausible(ExperimentReport r) => r.A is { } a && r.B is { } b && Arm(a) && Arm(b);

    /// <summary>
    /// Squared errors a report can carry: finite, not negative, none without a count, and a sum of squares at least
    /// the squared sum over the count (Cauchy–Schwarz, with room for rounding).
    /// </summary>
    public static bool SquaredErrors(double sum, double squares, ulong n) =>
        double.IsFinite(sum) && double.IsFinite(squares) && sum >= 0 && squares >= 0
        && (n == 0 ? sum == 0 && squares == 0 : squares * n >= sum * sum * (1 - 1e-9));

    /// <summary>A regressor's shadow figures: finite, not negative, and the paired differences' squares consistent with their sum.</summary>
    private static bool Values(ShadowReport r)
    {
        var difference = r.CandidateSquaredErrorSum - r.IncumbentSquaredErrorSum;
        return double.IsFinite(r.ValueDifferenceSum) && r.ValueDifferenceSum >= 0 && double.IsFinite(r.ValueDifferenceMax) && r.ValueDifferenceMax >= 0
            && double.IsFinite(r.IncumbentSquaredErrorSum) && r.IncumbentSquaredErrorSum >= 0 && double.IsFinite(r.CandidateSquaredErrorSum) && r.CandidateSquaredErrorSum >= 0
            && (r.Labelled > 0 || (r.IncumbentSquaredErrorSum == 0 && r.CandidateSquaredErrorSum == 0 && r.SquaredErrorDifferenceSquares == 0))
            && double.IsFinite(r.SquaredErrorDifferenceSquares) && r.SquaredErrorDifferenceSquares >= 0
            && (r.Labelled == 0 || r.SquaredErrorDifferenceSquares * r.Labelled >= difference * difference * (1 - 1e-9));
    }

    private static bool Arm(ArmCounts a) =>
        a.Served <= MaxCount && a.Errors <= MaxCount && a.Labelled <= a.Served && a.Correct <= a.Labelled && Latency(a.LatencyP95Ms)
        && a.Predicted.Count <= 256 && a.Predicted.All(c => c <= a.Served) && a.Predicted.Aggregate(0UL, (sum, c) => sum + c) <= a.Served // ≤ 256 × 2^40: no overflow
        && a.Confusion.Count <= ArmConfusion.Cells && a.Confusion.All(c => c <= a.Labelled) && a.Confusion.Aggregate(0UL, (sum, c) => sum + c) <= a.Labelled // ≤ 1,024 × 2^40
        && SquaredErrors(a.SquaredErrorSum, a.SquaredErrorSquares, a.Labelled);

    private static bool Latency(double ms) => double.IsFinite(ms) && ms >= 0;
}
