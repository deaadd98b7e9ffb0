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

    /// <param name="experiment">The rollout's A/B test.</param>
    /// <param name="reports">The latest report of each device in the test.</param>
    /// <param name="split">The split devices apply now (a bandit moves it).</param>
    /// <param name="last">The bandit's last rebalance, or null.</param>
    public static ExperimentView Judge(ExperimentRequest experiment, IReadOnlyList<ExperimentReport> reports, double split = double.NaN, AllocationPoint? last = null)
    {
        reports = DeviceInfluence.Bound(reports); // no device decides the test alone
        var metric = ExperimentMetric.Parse(experiment.Metric);
        var higher = experiment.HigherIsBetter;
        var byDevice = experiment.Unit == RandomisationUnit.Device;
        long servedA = 0, servedB = 0, errorsB = 0;
        ArmSample a = default, b = default;
        foreach (var r in reports)
        {
            servedA += (long)(r.A?.Served ?? 0);
            servedB += (long)(r.B?.Served ?? 0);
            errorsB += (long)(r.B?.Errors ?? 0);
            var (deviceA, deviceB) = (metric.Sample(r.A, higher), metric.Sample(r.B, higher));
            if (!byDevice)
            {
                (a, b) = (a + deviceA, b + deviceB);
                continue;
            }

            // Randomised by device: each device's outcomes are one cluster of the arm it was put in.
            if (deviceA.N > 0) a += ArmSample.Cluster(deviceA);
            if (deviceB.N > 0) b += ArmSample.Cluster(deviceB);
        }

        var design = experiment.Design;
        static double? Median(IEnumerable<double> values) => values.Order().ToArray() is { Length: > 0 } v ? v[v.Length / 2] : null;
        var latencyA = Median(reports.Where(r => r.A?.Served > 0).Select(r => r.A.LatencyP95Ms));
        var latencyB = Median(reports.Where(r => r.B?.Served > 0).Select(r => r.B.LatencyP95Ms));
        ExperimentView View(ExperimentReading reading, GateVerdict verdict) =>
            new(reports.Count, servedA, servedB, errorsB, latencyA, latencyB, reading, verdict)
            {
                Metric = metric.Name,
                Unit = experiment.Unit,
                ValueA = metric.Display(reading.AccuracyA, higher),
                ValueB = metric.Display(reading.AccuracyB, higher),
            };
        if (SlowerOnMostDevices(experiment, reports) is { } slower)
        {
            return View(new ExperimentReading(a.N, (long)Math.Round(a.Sum), b.N, (long)Math.Round(b.Sum), design.HorizonPerArm(), a.Mean, b.Mean, null, null, ExperimentVerdict.BWorse), GateVerdict.Fail(slower));
        }

        if (design.Mode == ExperimentMode.Bandit)
        {
            return Bandit(experiment, reports.Count, servedA, servedB, errorsB, latencyA, latencyB, (long)a.Sum, a.N, (long)b.Sum, b.N, double.IsNaN(split) ? experiment.Split : split, last);
        }

        var reading = design.Mode == ExperimentMode.FixedHorizon
            ? ExperimentTests.FixedHorizon(a, b, design)
            : ExperimentTests.Sequential(a, b, design);
        var (better, worse) = metric.Kind switch
        {
            MetricKind.Accuracy => ("more accurate", "less accurate"),
            _ when higher => ($"higher on {metric}", $"lower on {metric}"),
            _ => ($"lower on {metric}", $"higher on {metric}"),
        };
        string Figures() => FormattableString.Invariant(
            $"{metric} {metric.Display(reading.AccuracyB, higher):F4} (B, {b.N} {metric.Unit}) against {metric.Display(reading.AccuracyA, higher):F4} (A, {a.N}), p = {(reading.PValue is { } pValue ? PValueText(pValue, design.Alpha) : string.Empty)}");
        var verdict = servedB + errorsB > 0 && (double)errorsB / (servedB + errorsB) > MaxErrorRate
            ? GateVerdict.Fail(FormattableString.Invariant($"the version failed on {errorsB} of {servedB + errorsB} requests in the A/B test"))
            : reading.Verdict switch
            {
                ExperimentVerdict.BWorse => GateVerdict.Fail($"A/B test ({design.Mode}): the version is {worse}, {Figures()}"),
                ExperimentVerdict.BBetter => GateVerdict.Pass($"A/B test ({design.Mode}): the version is {better}, {Figures()}"),
                ExperimentVerdict.NoDifference when experiment.PromoteWithoutDifference => GateVerdict.Pass($"A/B test ({design.Mode}): no significant difference at the horizon of {reading.Horizon} {metric.Observations} per arm, {Figures()}"),
                ExperimentVerdict.NoDifference => GateVerdict.Wait($"A/B test ({design.Mode}): no significant difference at the horizon; an operator decides, {Figures()}"),
                _ => design.Mode == ExperimentMode.FixedHorizon
                    ? GateVerdict.Wait($"A/B test (fixed horizon): {Math.Min(a.N, b.N)} of {reading.Horizon} {metric.Observations} per arm; read once, at the horizon")
                    : GateVerdict.Wait($"A/B test (sequential): {Figures()}; stops when p < {design.Alpha} or at {reading.Horizon} {metric.Observations} per arm"),
            };
        return View(reading, verdict);
    }

    /// <summary>
    /// Why the version is too slow, or null: each device compares its own two arms' p95 (same hardware, same load); the
    /// version fails when the share of devices where it exceeds the allowed ratio and floor (<see cref="LatencyLimit"/>) is significantly above one half. The
    /// gate reads this at every check while the test runs, so the sign test is the always-valid one
    /// (<see cref="SignTest.AlwaysValid"/>, 5%): a fixed-n test read at every look aborted on scheduling noise (an A/A
    /// simulation in BanditTests puts that at about 1 trial in 5 over 100 looks).
    /// </summary>
    /// <summary>
    /// A p-value in three significant digits — more where three would round it onto the other side of α (a stop at
    /// p = 0.049996 read "p = 0.05" as if it had not crossed).
    /// </summary>
    public static string PValueText(double p, double alpha)
    {
        for (var digits = 3; digits < 17; digits++)
        {
            var text = p.ToString("G" + digits.ToString(System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);
            if (double.Parse(text, System.Globalization.CultureInfo.InvariantCulture) < alpha == p < alpha) return text;
        }

        return p.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
    }

    public static string? SlowerOnMostDevices(ExperimentRequest experiment, IReadOnlyList<ExperimentReport> reports)
    {
        if (experiment.MaxLatencyP95Ratio <= 0) return null;
        if (experiment.Unit == RandomisationUnit.Device) return SlowerAcrossArms(experiment, reports);
        var compared = reports.Where(r => r.A is { Served: > 0, LatencyP95Ms: > 0 } && r.B is { Served: > 0, LatencyP95Ms: > 0 }).ToArray();
        var slower = compared.Count(r => LatencyLimit.Exceeded(r.B.LatencyP95Ms, r.A.LatencyP95Ms, experiment.MaxLatencyP95Ratio, experiment.MinLatencyIncreaseMs));
        var p = SignTest.AlwaysValid(slower, compared.Length);
        if (compared.Length == 0 || p >= 0.05) return null;
        return FormattableString.Invariant($"the version's p95 latency is above {experiment.MaxLatencyP95Ratio:F1}× the served version's (and {experiment.MinLatencyIncreaseMs:G3} ms above it) on {slower} of {compared.Length} devices in the A/B test (always-valid sign test p = {p:G3})");
    }

    /// <summary>Devices per arm before arms randomised by device are compared on latency.</summary>
    public const int MinDevicesPerArmForLatency = 5;

    /// <summary>
    /// The latency guard when devices are randomised: no device runs both arms, so the median device's p95 in arm B is
    /// compared with the median in arm A once each arm holds <see cref="MinDevicesPerArmForLatency"/> devices (a rule
    /// on medians, not a test: devices differ in hardware, which request randomisation cancels and this does not).
    /// </summary>
    private static string? SlowerAcrossArms(ExperimentRequest experiment, IReadOnlyList<ExperimentReport> reports)
    {
        static double[] P95(IEnumerable<ArmCounts?> arms) => arms.Where(a => a is { Served: > 0, LatencyP95Ms: > 0 }).Select(a => a!.LatencyP95Ms).Order().ToArray();
        var a = P95(reports.Select(r => r.A));
        var b = P95(reports.Select(r => r.B));
        if (a.Length < MinDevicesPerArmForLatency || b.Length < MinDevicesPerArmForLatency) return null;
        var (medianA, medianB) = (a[a.Length / 2], b[b.Length / 2]);
        if (!LatencyLimit.Exceeded(medianB, medianA, experiment.MaxLatencyP95Ratio, experiment.MinLatencyIncreaseMs)) return null;
        return FormattableString.Invariant($"the median p95 latency of the {b.Length} devices answering with the version, {medianB:G3} ms, is above {experiment.MaxLatencyP95Ratio:F1}× (and {experiment.MinLatencyIncreaseMs:G3} ms above) the {a.Length} devices' on the served version, {medianA:G3} ms");
    }

    /// <summary>
    /// The bandit's reading: stop on the version's failures or on its guardrail floor; decide when the posterior
    /// probability that B is better reaches the policy's level either way; otherwise keep going and, every
    /// <see cref="BanditPolicy.LabelsPerStep"/> labels, move the split toward that probability. Decisions are Bayesian
    /// (no false-positive guarantee: use the sequential test for one).
    /// </summary>
    private static ExperimentView Bandit(ExperimentRequest experiment, int devices, long servedA, long servedB, long errorsB, double? latencyA, double? latencyB, long correctA, long labelledA, long correctB, long labelledB, double split, AllocationPoint? last)
    {
        var policy = experiment.Bandit;
        var horizon = experiment.Design.HorizonPerArm();
        var pBetter = ThompsonAllocation.ProbabilityBBetter(correctA, labelledA, correctB, labelledB);
        var reading = new ExperimentReading(labelledA, correctA, labelledB, correctB, horizon,
            labelledA > 0 ? (double)correctA / labelledA : null, labelledB > 0 ? (double)correctB / labelledB : null, null, null, ExperimentVerdict.Wait);
        var metric = ExperimentMetric.Parse(experiment.Metric);
        var scored = metric.ShareClass is null ? "accuracy" : $"{metric} ({(experiment.HigherIsBetter ? "higher" : "lower")} is better; scored as its success rate)";
        var figures = FormattableString.Invariant($"P(B better) = {pBetter:F3}, {scored} {reading.AccuracyB:F4} (B, {labelledB}) against {reading.AccuracyA:F4} (A, {labelledA}), split {split:P0}");
        const int minimumPerArm = 100;
        GateVerdict verdict;
        double? next = null;
        if (servedB + errorsB > 0 && (double)errorsB / (servedB + errorsB) > MaxErrorRate)
        {
            verdict = GateVerdict.Fail(FormattableString.Invariant($"the version failed on {errorsB} of {servedB + errorsB} requests in the A/B test"));
        }
        else if (labelledA < minimumPerArm || labelledB < minimumPerArm)
        {
            verdict = GateVerdict.Wait($"bandit: {Math.Min(labelledA, labelledB)} labels in the smaller arm (need {minimumPerArm} before it decides or moves)");
        }
        else if (policy.GuardrailFloor > 0 && ThompsonAllocation.ProbabilityBelow(correctB, labelledB, policy.GuardrailFloor) > policy.DecideAt)
        {
            verdict = GateVerdict.Fail(FormattableString.Invariant($"bandit: the version is below its guardrail floor of {policy.GuardrailFloor:F2}, {figures}"));
        }
        else if (pBetter >= policy.DecideAt)
        {
            verdict = GateVerdict.Pass($"bandit: the version is {(metric.ShareClass is null ? "more accurate" : "better")}, {figures}");
        }
        else if (pBetter <= 1 - policy.DecideAt)
        {
            verdict = GateVerdict.Fail($"bandit: the version is {(metric.ShareClass is null ? "less accurate" : "worse")}, {figures}");
        }
        else if (labelledA + labelledB >= 2 * horizon)
        {
            // Never promoted by itself: a bandit starves the arm it doubts, so "no clear winner" may mean "too little on B".
            verdict = GateVerdict.Wait($"bandit: no clear winner after {labelledA + labelledB} labels; an operator decides, {figures}");
        }
        else
        {
            verdict = GateVerdict.Wait($"bandit: {figures}");
            if (labelledA + labelledB - ((last?.LabelledA ?? 0) + (last?.LabelledB ?? 0)) >= policy.LabelsPerStep) next = ThompsonAllocation.NextSplit(split, pBetter, policy);
        }

        return new ExperimentView(devices, servedA, servedB, errorsB, latencyA, latencyB, reading, verdict)
        {
            ProbabilityBBetter = pBetter,
            NextSplit = next,
            Metric = metric.Name,
            Unit = experiment.Unit,
            ValueA = metric.Display(reading.AccuracyA, experiment.HigherIsBetter),
            ValueB = metric.Display(reading.AccuracyB, experiment.HigherIsBetter),
        };
    }
}
