using EdgeMlOps.Shared.Privacy;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Rollouts;

/// <summary>
/// Judges a rollout's shadow phase from the devices' shadow reports (pure: no clock, no store). Fails on shadow
/// devices that could not load the version, on its inference errors, on latency against the served version on the
/// same requests, or on paired ground-truth accuracy confidently worse than the allowed drop. With enough labelled
/// pairs accuracy decides (a version that disagrees with the served one because it is better passes); without them
/// (<see cref="ShadowRequest.RequireLabels"/> false) agreement with the served version bounds how much behaviour may
/// change. Passes when every judged figure is confidently fine; waits in between. A regressor's shadow is judged the
/// same way on its paired squared errors instead of accuracy (<see cref="JudgeSquaredError"/>): the candidate fails when
/// its MSE on the same requests is confidently more than <see cref="RolloutGates.MaxAccuracyDrop"/> (as a share) above
/// the served version's; agreement does not apply to values.
/// </summary>
public static class ShadowGate
{
    /// <param name="shadow">The rollout's shadow policy and thresholds.</param>
    /// <param name="gates">The rollout's gates (accuracy drop, confidence, labels needed, failure rate).</param>
    /// <param name="reports">The latest shadow report of each device that shadows this rollout's version.</param>
    /// <param name="failed">Shadow devices that could not load the version.</param>
    /// <param name="regressor">The model takes target vectors (a regressor, a multi-label classifier): its reports carry values and squared errors, not classes.</param>
    /// <param name="squaredError">What the mean squared error is called for this model: <c>MSE</c>, or a multi-label classifier's <c>Brier score</c> (its probabilities against 0/1 labels).</param>
    public static ShadowReading Judge(ShadowRequest shadow, RolloutGates gates, IReadOnlyList<ShadowReport> reports, int failed, bool regressor = false, string squaredError = "MSE")
    {
        reports = DeviceInfluence.Bound(reports); // no device decides the gate alone
        long offered = 0, scored = 0, skipped = 0, errors = 0, agreed = 0, labelled = 0, incumbentCorrect = 0, candidateCorrect = 0, onlyIncumbent = 0, onlyCandidate = 0;
        double distanceSum = 0, distanceMax = 0, valueDifferenceSum = 0, incumbentSquares = 0, candidateSquares = 0, differenceSquares = 0;
        foreach (var r in reports)
        {
            valueDifferenceSum += r.ValueDifferenceSum;
            incumbentSquares += r.IncumbentSquaredErrorSum;
            candidateSquares += r.CandidateSquaredErrorSum;
            differenceSquares += r.SquaredErrorDifferenceSquares;
            offered += (long)r.Offered;
            scored += (long)r.Scored;
            skipped += (long)r.Skipped;
            errors += (long)r.CandidateErrors;
            agreed += (long)r.Agreed;
            distanceSum += r.DistanceSum;
            distanceMax = Math.Max(distanceMax, r.DistanceMax);
            labelled += (long)r.Labelled;
            incumbentCorrect += (long)r.IncumbentCorrect;
            candidateCorrect += (long)r.CandidateCorrect;
            onlyIncumbent += (long)r.OnlyIncumbentCorrect;
            onlyCandidate += (long)r.OnlyCandidateCorrect;
        }

        var scoredDevices = reports.Where(r => r.Scored > 0).ToArray();
        var incumbentP95 = Median(scoredDevices.Select(r => r.IncumbentLatencyP95Ms));
        var candidateP95 = Median(scoredDevices.Select(r => r.CandidateLatencyP95Ms));
        var latencyRatio = Median(scoredDevices.Where(r => r.IncumbentLatencyP95Ms > 0).Select(r => r.CandidateLatencyP95Ms / r.IncumbentLatencyP95Ms));
        var memory = (long)(Median(reports.Select(r => (double)r.CandidateMemoryBytes)) ?? 0);
        var agreement = scored > 0 ? Wilson(agreed, scored, gates.AccuracyConfidence) : ((double, double)?)null;
        var accuracy = labelled == 0 ? ((AccuracyVerdict, double, double, double)?)null
            : regressor ? JudgeSquaredError(incumbentSquares, candidateSquares, differenceSquares, labelled, gates.MaxAccuracyDrop, gates.AccuracyConfidence)
            : AccuracyComparison.JudgePaired(onlyCandidate, onlyIncumbent, labelled, gates.MaxAccuracyDrop, gates.AccuracyConfidence);
        var attempts = scored + errors;
        var devices = reports.Count + failed;

        GateVerdict verdict;
        if (devices > 0 && failed > 0 && (double)failed / devices > gates.MaxFailureRate)
        {
            verdict = GateVerdict.Fail(FormattableString.Invariant($"{failed} of {devices} shadow devices could not load the version"));
        }
        else if (attempts > 0 && (double)errors / attempts > shadow.MaxErrorRate)
        {
            verdict = GateVerdict.Fail(FormattableString.Invariant($"the version failed on {errors} of {attempts} shadow requests"));
        }
        else if (reports.Count < shadow.MinDevices || scored < shadow.MinScored)
        {
            verdict = GateVerdict.Wait($"{scored} requests scored on {reports.Count} shadow devices (need {shadow.MinScored} on {shadow.MinDevices})");
        }
        else if (latencyRatio is { } ratio && incumbentP95 is { } baseline && LatencyLimit.Exceeded(baseline * ratio, baseline, shadow.MaxLatencyP95Ratio, shadow.MinLatencyIncreaseMs))
        {
            verdict = GateVerdict.Fail(FormattableString.Invariant($"shadow p95 latency {ratio:F2}× the served version's on the same requests ({candidateP95:F2} ms against {baseline:F2} ms; limit {shadow.MaxLatencyP95Ratio:F2}× and {shadow.MinLatencyIncreaseMs:G3} ms more)"));
        }
        else if (regressor && accuracy is { Item1: AccuracyVerdict.Fail } higher)
        {
            verdict = GateVerdict.Fail(FormattableString.Invariant($"ground-truth {squaredError} {candidateSquares / labelled:G4} against {incumbentSquares / labelled:G4} on the same {labelled} requests (difference {higher.Item3:+0.0000;-0.0000} to {higher.Item4:+0.0000;-0.0000}; allowed +{gates.MaxAccuracyDrop:P0} of the served version's)"));
        }
        else if (accuracy is { Item1: AccuracyVerdict.Fail } worse)
        {
            verdict = GateVerdict.Fail(FormattableString.Invariant($"ground-truth accuracy {(double)candidateCorrect / labelled:F4} against {(double)incumbentCorrect / labelled:F4} on the same {labelled} requests (difference {Beside(worse.Item3, -gates.MaxAccuracyDrop)} to {Beside(worse.Item4, -gates.MaxAccuracyDrop)}; drop > {gates.MaxAccuracyDrop:F2})"));
        }
        else if (labelled >= gates.MinFeedback && gates.MinFeedback > 0)
        {
            // Enough ground truth: accuracy decides. A version that disagrees because it is better must pass.
            verdict = accuracy is not { Item1: AccuracyVerdict.Inconclusive } unsure ? GateVerdict.Passed
                : regressor ? GateVerdict.Wait(FormattableString.Invariant($"{squaredError} difference {unsure.Item3:+0.0000;-0.0000} to {unsure.Item4:+0.0000;-0.0000} over {labelled} labelled requests (need at most +{gates.MaxAccuracyDrop:P0} of {incumbentSquares / labelled:G4})"))
                : GateVerdict.Wait(FormattableString.Invariant($"accuracy difference {Beside(unsure.Item3, -gates.MaxAccuracyDrop)} to {Beside(unsure.Item4, -gates.MaxAccuracyDrop)} over {labelled} labelled requests (need above {-gates.MaxAccuracyDrop:F2})"));
        }
        else if (shadow.RequireLabels)
        {
            verdict = GateVerdict.Wait($"{labelled} labelled shadow requests (need {gates.MinFeedback})");
        }
        else if (regressor)
        {
            verdict = GateVerdict.Passed; // agreement counts classes; without enough targets a regressor is judged on errors and latency
        }
        else if (shadow.MinAgreement > 0 && agreement is { } a && a.Item2 < shadow.MinAgreement)
        {
            // No ground truth to judge by: agreement with the served version bounds how much behaviour may change.
            verdict = GateVerdict.Fail(FormattableString.Invariant($"agrees with the served version on {(double)agreed / scored:P1} of {scored} requests ({a.Item1:P1} to {a.Item2:P1}; need {shadow.MinAgreement:P1}) and too few labels to judge accuracy"));
        }
        else if (shadow.MinAgreement > 0 && agreement is { } open && open.Item1 < shadow.MinAgreement)
        {
            verdict = GateVerdict.Wait(FormattableString.Invariant($"agreement {(double)agreed / scored:P1} over {scored} requests ({open.Item1:P1} to {open.Item2:P1}; need {shadow.MinAgreement:P1})"));
        }
        else
        {
            verdict = GateVerdict.Passed;
        }

        return new ShadowReading(
            reports.Count, failed, offered, scored, skipped, errors,
            scored > 0 ? (double)agreed / scored : null, agreement?.Item1, agreement?.Item2,
            scored > 0 ? distanceSum / scored : null, distanceMax,
            incumbentP95, candidateP95, labelled,
            labelled > 0 ? (double)incumbentCorrect / labelled : null,
            labelled > 0 ? (double)candidateCorrect / labelled : null,
            accuracy?.Item3, accuracy?.Item4, memory, verdict)
        {
            IncumbentMse = regressor && labelled > 0 ? incumbentSquares / labelled : null,
            CandidateMse = regressor && labelled > 0 ? candidateSquares / labelled : null,
            MeanValueDifference = regressor && scored > 0 ? valueDifferenceSum / scored : null,
        };
    }

    /// <summary>
    /// A regressor's paired comparison: per labelled request d = candidate's squared error − served version's, its mean
    /// and a normal-approximation interval at <paramref name="confidence"/> one-sided per end; allowed is
    /// <paramref name="maxIncrease"/> × the served version's MSE. Fail when the interval lies above it, pass when it lies
    /// at or below it, inconclusive otherwise. Returns (verdict, mean difference, lower, upper) like
    /// <see cref="AccuracyComparison.JudgePaired"/>, with differences in squared-error units (lower is better).
    /// </summary>
    public static (AccuracyVerdict Verdict, double Mean, double Lower, double Upper) JudgeSquaredError(double incumbentSum, double candidateSum, double differenceSquares, long n, double maxIncrease, double confidence)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        var mean = (candidateSum - incumbentSum) / n;
        var variance = n > 1 ? Math.Max(0, (differenceSquares - (n * mean * mean)) / (n - 1)) : double.PositiveInfinity;
        var half = SpecialFunctions.NormalQuantile(confidence) * Math.Sqrt(variance / n);
        var allowed = maxIncrease * (incumbentSum / n);
        var (lower, upper) = (mean - half, mean + half);
        var verdict = lower > allowed ? AccuracyVerdict.Fail : upper <= allowed ? AccuracyVerdict.Pass : AccuracyVerdict.Inconclusive;
        return (verdict, mean, lower, upper);
    }

    /// <summary>The Wilson score interval of a proportion, two-sided at <paramref name="confidence"/> one-sided per end.</summary>
    public static (double Lower, double Upper) Wilson(long successes, long trials, double confidence)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(trials, 1);
        var z = SpecialFunctions.NormalQuantile(confidence);
        var p = (double)successes / trials;
        var z2 = z * z;
        var centre = (p + z2 / (2 * trials)) / (1 + z2 / trials);
        var half = z * Math.Sqrt(p * (1 - p) / trials + z2 / (4.0 * trials * trials)) / (1 + z2 / trials);
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }

    private static double? Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? null : sorted[sorted.Length / 2];
    }

    /// <summary>
    /// A signed difference as a note prints it: three decimals, or as many more as it takes for the printed number to
    /// fall on the same side of <paramref name="limit"/> as the value does — a bound of −0.0502 against a drop limit of
    /// −0.05 reads −0.0502, not −0.050, so the note says what the verdict decided (as p-values are, ExperimentGate.PValueText).
    /// </summary>
    internal static string Beside(double value, double limit)
    {
        for (var digits = 3; digits < 16; digits++)
        {
            var format = "0." + new string('0', digits);
            var text = value.ToString($"+{format};-{format}", System.Globalization.CultureInfo.InvariantCulture);
            if (double.Parse(text, System.Globalization.CultureInfo.InvariantCulture) < limit == value < limit) return text;
        }

        return value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
    }
}
