using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Rollouts;

/// <summary>
/// Bounds how much one device weighs in a shadow or A/B gate. Reports are authenticated and bounded (ReportBounds), but an
/// enrolled device that is compromised can still send plausible, huge counts that all favour one version and decide the
/// gate alone. Before the gates sum the reports, each device's counts are scaled down (its ratios kept) so that its size
/// (requests scored or served; labels) is at most <see cref="Factor"/> × the median size of the devices reporting, and
/// never below <see cref="Floor"/> — per-device contribution bounding, as user-level differential privacy bounds a user.
/// A forged report then weighs as one ordinary device. The price: a device far busier than the median counts as the
/// median device, so the gates weigh devices rather than requests once a device exceeds the median (a factor of 3 was
/// tried first: one forged device among 20 still flipped a shadow gate, <c>DeviceInfluenceTests</c>).
/// </summary>
public static class DeviceInfluence
{
    /// <summary>A device counts at most this many times the median device.</summary>
    public const double Factor = 1;

    /// <summary>Caps never go below this size, so a fleet of quiet devices is not trimmed by a busier one's ordinary traffic.</summary>
    public const double Floor = 100;

    public static IReadOnlyList<ShadowReport> Bound(IReadOnlyList<ShadowReport> reports)
    {
        var scored = Scales(reports.Select(r => (double)r.Scored).ToArray());
        var labelled = Scales(reports.Select(r => (double)r.Labelled).ToArray());
        return reports.Select((r, i) => scored[i] >= 1 && labelled[i] >= 1 ? r : Scale(r, scored[i], labelled[i])).ToArray();
    }

    public static IReadOnlyList<ExperimentReport> Bound(IReadOnlyList<ExperimentReport> reports)
    {
        var served = Scales(reports.Select(r => (double)((r.A?.Served ?? 0) + (r.B?.Served ?? 0))).ToArray());
        var labelled = Scales(reports.Select(r => (double)((r.A?.Labelled ?? 0) + (r.B?.Labelled ?? 0))).ToArray());
        return reports.Select((r, i) => served[i] >= 1 && labelled[i] >= 1 ? r : new ExperimentReport(r)
        {
            A = Scale(r.A, served[i], labelled[i]),
            B = Scale(r.B, served[i], labelled[i]),
        }).ToArray();
    }

    /// <summary>Per device, the factor (≤ 1) that brings its size down to the cap.</summary>
    internal static double[] Scales(double[] sizes)
    {
        var active = sizes.Where(s => s > 0).Order().ToArray();
        if (active.Length == 0) return sizes.Select(_ => 1.0).ToArray();
        var cap = Math.Max(Floor, Factor * active[active.Length / 2]);
        return sizes.Select(s => s > cap ? cap / s : 1.0).ToArray();
    }

    private static ulong Times(ulong count, double scale) => scale >= 1 ? count : (ulong)Math.Floor(count * scale);

    private static ShadowReport Scale(ShadowReport r, double scored, double labelled) => new(r)
    {
        Offered = Times(r.Offered, scored),
        Scored = Times(r.Scored, scored),
        SkippedSample = Times(r.SkippedSample, scored),
        SkippedBudget = Times(r.SkippedBudget, scored),
        SkippedQueue = Times(r.SkippedQueue, scored),
        SkippedState = Times(r.SkippedState, scored),
        CandidateErrors = Times(r.CandidateErrors, scored),
        Agreed = Times(r.Agreed, scored),
        DistanceSum = r.DistanceSum * Math.Min(1, scored),
        Labelled = Times(r.Labelled, labelled),
        IncumbentCorrect = Times(r.IncumbentCorrect, labelled),
        CandidateCorrect = Times(r.CandidateCorrect, labelled),
        OnlyIncumbentCorrect = Times(r.OnlyIncumbentCorrect, labelled),
        OnlyCandidateCorrect = Times(r.OnlyCandidateCorrect, labelled),
        ValueDifferenceSum = r.ValueDifferenceSum * Math.Min(1, scored),
        IncumbentSquaredErrorSum = r.IncumbentSquaredErrorSum * Math.Min(1, labelled),
        CandidateSquaredErrorSum = r.CandidateSquaredErrorSum * Math.Min(1, labelled),
        SquaredErrorDifferenceSquares = r.SquaredErrorDifferenceSquares * Math.Min(1, labelled),
    };

    private static ArmCounts? Scale(ArmCounts? arm, double served, double labelled)
    {
        if (arm is null) return null;
        var scaled = new ArmCounts(arm)
        {
            Served = Times(arm.Served, served),
            Errors = Times(arm.Errors, served),
            Labelled = Times(arm.Labelled, labelled),
            Correct = Times(arm.Correct, labelled),
        };
        scaled.Predicted.Clear();
        scaled.Predicted.AddRange(arm.Predicted.Select(c => Times(c, served)));
        scaled.Confusion.Clear();
        scaled.Confusion.AddRange(arm.Confusion.Select(c => Times(c, labelled)));
        return scaled;
    }
}
