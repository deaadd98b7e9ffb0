using EdgeMlOps.Aggregator.Fleet;

namespace EdgeMlOps.Aggregator.Rollouts;

/// <summary>
/// Judges a rollout's opened stages (pure): fail on the failed or rolled-back share, on the target's error rate or
/// latency against the replaced version, or on ground-truth accuracy confidently worse — for a regressor or a
/// multi-label classifier on its mean squared error (Brier score) confidently more than the allowed share above the
/// replaced version's; wait for reporting devices and for labels on both sides (a stage with no device left on the
/// replaced version is judged on the target's health alone); pass otherwise.
/// </summary>
public static class StageGate
{
    /// <summary>
    /// The gate reading of the opened stages: reporting devices, failures, then error rate, latency and accuracy of the
    /// target against devices still on the replaced version. <paramref name="awaited"/>: the targeted devices the stage
    /// waits for (answering, reported, or lost during their health window — <paramref name="lostInTrial"/> of them).
    /// <paramref name="squaredError"/>: set (the error's name, <c>MSE</c> or <c>Brier score</c>) for a model whose ground
    /// truth is a target vector — its devices' squared errors are compared instead of class accuracy (not stratified).
    /// </summary>
    public static GateReading Judge(RolloutGates gates, int reporting, int bad, int awaited, List<DeviceInfo> target, List<DeviceInfo> baseline, int lostInTrial = 0, string? squaredError = null)
    {
        if (squaredError is not null) gates = gates with { StratifyBy = null }; // strata compare class accuracy
        static (double? Rate, double? Latency, double? Accuracy, long Feedback, long Correct) Measure(List<DeviceInfo> devices)
        {
            var predictions = devices.Sum(d => (double)d.Predictions);
            var errors = devices.Sum(d => (double)d.InferenceErrors);
            var latencies = devices.Where(d => d.Predictions > 0).Select(d => d.LatencyP95Ms).Order().ToArray();
            var feedback = devices.Sum(d => (long)d.FeedbackCount);
            var correct = devices.Sum(d => (long)d.FeedbackCorrect);
            return (predictions + errors > 0 ? errors / (predictions + errors) : null,
                latencies.Length > 0 ? latencies[latencies.Length / 2] : null,
                feedback > 0 ? (double)correct / feedback : null,
                feedback,
                correct);
        }

        var t = Measure(target);
        var b = Measure(baseline);
        var failureRate = reporting > 0 ? (double)bad / reporting : 0;
        var strata = gates.StratifyBy is { } tag ? Strata(tag, target, baseline) : null;
        var accuracy = t.Feedback >= gates.MinFeedback && b.Feedback >= gates.MinFeedback && t.Feedback > 0 && b.Feedback > 0
            ? strata is null
                ? AccuracyComparison.Judge(t.Correct, t.Feedback, b.Correct, b.Feedback, gates.MaxAccuracyDrop, gates.AccuracyConfidence)
                : AccuracyComparison.JudgeStratified(strata.Values, gates.MaxAccuracyDrop, gates.AccuracyConfidence)
            : ((AccuracyVerdict Verdict, double Difference, double Lower, double Upper)?)null;
        if (squaredError is not null)
        {
            (t, b) = (t with { Accuracy = null }, b with { Accuracy = null }); // class hits mean nothing for values
            accuracy = null;
        }

        var errors = squaredError is null ? null : Errors(gates, target, baseline);
        var stratified = strata is null ? string.Empty : $", stratified by {gates.StratifyBy} over {strata.Count(s => s.Value.TargetTotal > 0 && s.Value.ReplacedTotal > 0)} values on both sides";
        string Interval(double lower, double upper) => FormattableString.Invariant($"difference {lower:+0.000;-0.000} to {upper:+0.000;-0.000} at {gates.AccuracyConfidence * 100:0.#}%{stratified}");
        GateVerdict verdict;
        if (reporting > 0 && failureRate > gates.MaxFailureRate) verdict = GateVerdict.Fail(FormattableString.Invariant($"{bad} of {reporting} devices failed or rolled back ({failureRate:P1} > {gates.MaxFailureRate:P1})"));
        else if (t.Rate is { } tr && tr > (b.Rate ?? 0) + gates.MaxErrorRateIncrease) verdict = GateVerdict.Fail(FormattableString.Invariant($"inference error rate {tr:P2} against {b.Rate ?? 0:P2} on the replaced version"));
        else if (t.Latency is { } tl && b.Latency is { } bl && LatencyLimit.Exceeded(tl, bl, gates.MaxLatencyP95Ratio, gates.MinLatencyIncreaseMs)) verdict = GateVerdict.Fail(FormattableString.Invariant($"p95 latency {tl:F2} ms against {bl:F2} ms on the replaced version (limit {gates.MaxLatencyP95Ratio:F1}× and {gates.MinLatencyIncreaseMs:G3} ms more)"));
        else if (accuracy is { Verdict: AccuracyVerdict.Fail } failed)
        {
            verdict = GateVerdict.Fail(FormattableString.Invariant($"ground-truth accuracy {t.Accuracy:F4} against {b.Accuracy:F4} on the replaced version (drop > {gates.MaxAccuracyDrop:F2}; {Interval(failed.Lower, failed.Upper)})"));
        }
        else if (errors is { Comparison.Verdict: AccuracyVerdict.Fail } higher)
        {
            verdict = GateVerdict.Fail(FormattableString.Invariant($"ground-truth {squaredError} {higher.Target:G4} against {higher.Replaced:G4} on the replaced version over {t.Feedback} and {b.Feedback} labelled predictions (difference {higher.Comparison.Lower:+0.0000;-0.0000} to {higher.Comparison.Upper:+0.0000;-0.0000} at {gates.AccuracyConfidence * 100:0.#}%; allowed +{gates.MaxAccuracyDrop:P0} of the replaced version's)"));
        }
        else if (strata is not null && WorseInOneStratum(gates, strata) is { } worse) verdict = GateVerdict.Fail(worse);
        else if (reporting < gates.MinDevicesReporting || reporting < gates.MinReportingFraction * awaited)
        {
            verdict = GateVerdict.Wait($"{reporting} of {awaited} targeted devices reported" + (lostInTrial > 0 ? $" ({lostInTrial} unreachable in their health window)" : string.Empty));
        }
        else if (t.Feedback < gates.MinFeedback && b.Feedback >= gates.MinFeedback) verdict = GateVerdict.Wait($"{t.Feedback} labelled predictions on the target (need {gates.MinFeedback})");
        else if (t.Feedback >= gates.MinFeedback && b.Feedback < gates.MinFeedback && baseline.Count > 0)
        {
            verdict = GateVerdict.Wait($"{b.Feedback} labelled predictions on the replaced version (need {gates.MinFeedback})"); // its devices' labels restart at a switch back
        }
        else if (errors is { Comparison.Verdict: AccuracyVerdict.Inconclusive } unsure)
        {
            verdict = GateVerdict.Wait(FormattableString.Invariant($"ground-truth {squaredError} {unsure.Target:G4} against {unsure.Replaced:G4} over {t.Feedback} labelled predictions, difference {unsure.Comparison.Lower:+0.0000;-0.0000} to {unsure.Comparison.Upper:+0.0000;-0.0000} (need at most +{gates.MaxAccuracyDrop:P0} of {unsure.Replaced:G4})"));
        }
        else if (accuracy is { Verdict: AccuracyVerdict.Inconclusive, Difference: double.NaN })
        {
            verdict = GateVerdict.Wait($"no value of {gates.StratifyBy} has labelled predictions on both the target and the replaced version");
        }
        else if (accuracy is { Verdict: AccuracyVerdict.Inconclusive } open)
        {
            verdict = GateVerdict.Wait(FormattableString.Invariant($"ground-truth accuracy {t.Accuracy:F4} against {b.Accuracy:F4} over {t.Feedback} labelled predictions, {Interval(open.Lower, open.Upper)} (need above {-gates.MaxAccuracyDrop:F2})"));
        }
        else verdict = GateVerdict.Passed;
        return new GateReading(reporting, awaited, failureRate, t.Rate, b.Rate, t.Latency, b.Latency, t.Accuracy, b.Accuracy, t.Feedback, b.Feedback, verdict)
        {
            TargetSquaredError = errors?.Target ?? Mean(target, squaredError),
            BaselineSquaredError = errors?.Replaced ?? Mean(baseline, squaredError),
        };
    }

    /// <summary>Both sides' mean squared errors and their comparison, once each has the gate's minimum of labelled predictions; else null.</summary>
    private static (double Target, double Replaced, (AccuracyVerdict Verdict, double Difference, double Lower, double Upper) Comparison)? Errors(RolloutGates gates, List<DeviceInfo> target, List<DeviceInfo> baseline)
    {
        static (double Sum, double Squares, long N) Side(List<DeviceInfo> devices) =>
            (devices.Sum(d => d.FeedbackSquaredErrorSum), devices.Sum(d => d.FeedbackSquaredErrorSquares), devices.Sum(d => (long)d.FeedbackCount));
        var (t, r) = (Side(target), Side(baseline));
        if (t.N < Math.Max(1, gates.MinFeedback) || r.N < Math.Max(1, gates.MinFeedback)) return null;
        return (t.Sum / t.N, r.Sum / r.N, SquaredErrorComparison.JudgeUnpaired(t, r, gates.MaxAccuracyDrop, gates.AccuracyConfidence));
    }

    private static double? Mean(List<DeviceInfo> devices, string? squaredError)
    {
        var n = devices.Sum(d => (long)d.FeedbackCount);
        return squaredError is null || n == 0 ? null : devices.Sum(d => d.FeedbackSquaredErrorSum) / n;
    }

    /// <summary>Labelled predictions per value of <paramref name="tag"/> (devices without it form their own stratum), target and replaced side.</summary>
    private static SortedDictionary<string, (long TargetCorrect, long TargetTotal, long ReplacedCorrect, long ReplacedTotal)> Strata(string tag, List<DeviceInfo> target, List<DeviceInfo> baseline)
    {
        var strata = new SortedDictionary<string, (long, long, long, long)>(StringComparer.Ordinal);
        static string Value(DeviceInfo d, string tag) => d.Tags.TryGetValue(tag, out var v) ? v : "(untagged)";
        foreach (var d in target)
        {
            var (tc, tn, rc, rn) = strata.GetValueOrDefault(Value(d, tag));
            strata[Value(d, tag)] = (tc + (long)d.FeedbackCorrect, tn + (long)d.FeedbackCount, rc, rn);
        }

        foreach (var d in baseline)
        {
            var (tc, tn, rc, rn) = strata.GetValueOrDefault(Value(d, tag));
            strata[Value(d, tag)] = (tc, tn, rc + (long)d.FeedbackCorrect, rn + (long)d.FeedbackCount);
        }

        return strata;
    }

    /// <summary>
    /// A stratum (with the gate's minimum of labels on both sides) where the target is confidently worse than allowed,
    /// at a Bonferroni-adjusted confidence so that judging every stratum keeps the stage's false-failure rate at the
    /// gate's level: a version that breaks one kind of device fails there even when the others carry its average.
    /// </summary>
    private static string? WorseInOneStratum(RolloutGates gates, SortedDictionary<string, (long TargetCorrect, long TargetTotal, long ReplacedCorrect, long ReplacedTotal)> strata)
    {
        var judged = strata.Where(s => s.Value.TargetTotal >= gates.MinFeedback && s.Value.ReplacedTotal >= gates.MinFeedback).ToArray();
        var confidence = 1 - (1 - gates.AccuracyConfidence) / Math.Max(1, judged.Length);
        foreach (var (value, s) in judged)
        {
            var (verdict, _, lower, upper) = AccuracyComparison.Judge(s.TargetCorrect, s.TargetTotal, s.ReplacedCorrect, s.ReplacedTotal, gates.MaxAccuracyDrop, confidence);
            if (verdict != AccuracyVerdict.Fail) continue;
            return FormattableString.Invariant(
                $"on {gates.StratifyBy}={value} ground-truth accuracy {(double)s.TargetCorrect / s.TargetTotal:F4} against {(double)s.ReplacedCorrect / s.ReplacedTotal:F4} on the replaced version over {s.TargetTotal} labelled predictions (drop > {gates.MaxAccuracyDrop:F2}; difference {lower:+0.000;-0.000} to {upper:+0.000;-0.000} at {confidence * 100:0.##}%, one of {judged.Length} values judged)");
        }

        return null;
    }
}
