using EdgeMlOps.Aggregator.Experiments;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Rollouts;

/// <summary>
/// Judges a rollout's A/B test from the devices' reports (pure): sums both arms over the devices, reads the design's
/// test (fixed horizon: once, at the horizon; sequential: at every look) and says fail (the version is significantly
/// less accurate, or fails on its requests), pass (significantly more accurate, or no significant difference at the
/// horizon when the policy promotes then), or wait.
/// </summary>
public static class ExperimentGate
{
    /// <summary>Share of arm B's requests the version may fail on (the served version answers those).</summary>
    public const double MaxErrorRate = 0.01;

    public static ExperimentView Judge(ExperimentRequest experiment, IReadOnlyList<ExperimentReport> reports)
    {
        long servedA = 0, servedB = 0, errorsB = 0, labelledA = 0, correctA = 0, labelledB = 0, correctB = 0;
        foreach (var r in reports)
        {
            servedA += (long)(r.A?.Served ?? 0);
            labelledA += (long)(r.A?.Labelled ?? 0);
            correctA += (long)(r.A?.Correct ?? 0);
            servedB += (long)(r.B?.Served ?? 0);
            errorsB += (long)(r.B?.Errors ?? 0);
            labelledB += (long)(r.B?.Labelled ?? 0);
            correctB += (long)(r.B?.Correct ?? 0);
        }

        var design = experiment.Design;
        var reading = design.Mode == ExperimentMode.FixedHorizon
            ? ExperimentTests.FixedHorizon(correctA, labelledA, correctB, labelledB, design)
            : ExperimentTests.Sequential(correctA, labelledA, correctB, labelledB, design);
        string Figures() => FormattableString.Invariant($"accuracy {reading.AccuracyB:F4} (B, {labelledB} labelled) against {reading.AccuracyA:F4} (A, {labelledA}), p = {reading.PValue:0.####}");
        var verdict = servedB + errorsB > 0 && (double)errorsB / (servedB + errorsB) > MaxErrorRate
            ? FormattableString.Invariant($"fail: the version failed on {errorsB} of {servedB + errorsB} requests in the A/B test")
            : reading.Verdict switch
            {
                ExperimentVerdict.BWorse => $"fail: A/B test ({design.Mode}): the version is less accurate, {Figures()}",
                ExperimentVerdict.BBetter => $"pass: A/B test ({design.Mode}): the version is more accurate, {Figures()}",
                ExperimentVerdict.NoDifference when experiment.PromoteWithoutDifference => $"pass: A/B test ({design.Mode}): no significant difference at the horizon of {reading.Horizon} labels per arm, {Figures()}",
                ExperimentVerdict.NoDifference => $"wait: A/B test ({design.Mode}): no significant difference at the horizon; an operator decides, {Figures()}",
                _ => design.Mode == ExperimentMode.FixedHorizon
                    ? $"wait: A/B test (fixed horizon): {Math.Min(labelledA, labelledB)} of {reading.Horizon} labels per arm; read once, at the horizon"
                    : $"wait: A/B test (sequential): {Figures()}; stops when p < {design.Alpha} or at {reading.Horizon} labels per arm",
            };
        static double? Median(IEnumerable<double> values) => values.Order().ToArray() is { Length: > 0 } v ? v[v.Length / 2] : null;
        return new ExperimentView(reports.Count, servedA, servedB, errorsB,
            Median(reports.Where(r => r.A?.Served > 0).Select(r => r.A.LatencyP95Ms)), Median(reports.Where(r => r.B?.Served > 0).Select(r => r.B.LatencyP95Ms)), reading, verdict);
    }
}
