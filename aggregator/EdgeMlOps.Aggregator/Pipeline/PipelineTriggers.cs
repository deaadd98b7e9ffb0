using System.Globalization;
using EdgeMlOps.Aggregator.Monitoring;

namespace EdgeMlOps.Aggregator.Pipeline;

/// <summary>What the triggers look at: the monitor's judged windows, the deployed version and the last run.</summary>
/// <param name="Reports">Drift reports of recent windows (every version and cohort with a reference), any order.</param>
/// <param name="Deployed">The version devices serve (0: none yet).</param>
/// <param name="Now">The time the triggers are judged at.</param>
/// <param name="LastRunAt">When the last run started (null: never).</param>
/// <param name="LastRunWindow">The newest window judged when the last run started; only later windows count.</param>
public sealed record TriggerFacts(IReadOnlyList<DriftReport> Reports, ulong Deployed, DateTimeOffset Now, DateTimeOffset? LastRunAt, long LastRunWindow);

/// <summary>
/// Decides whether the pipeline starts a run, from the policy and the monitor's windows alone (pure). In order: the
/// cooldown since the last run; drift on the deployed version (on the declared inputs, if any) in a cohort's last
/// consecutive windows; prediction drift there (if enabled); a confident accuracy drop — a cohort's newest window whose accuracy, even at the upper end of
/// its one-sided 95% interval, lies more than the allowed drop below the median of the version's earlier windows in
/// that cohort; enough new labels; the schedule. A window counts only with enough predictions (drift) or labels
/// (accuracy), so the few rows of a window that just started do not retrain the fleet.
/// </summary>
public static class PipelineTriggers
{
    private const double OneSidedZ95 = 1.6449;

    public static PipelineTrigger? Evaluate(PipelinePolicy policy, TriggerFacts facts)
    {
        var t = policy.Triggers;
        if (facts.LastRunAt is { } last && facts.Now - last < t.Cooldown) return null;
        var fresh = facts.Reports.Where(r => r.Window > facts.LastRunWindow).ToArray();
        var deployed = fresh.Where(r => r.Version == facts.Deployed && facts.Deployed != 0).OrderBy(r => r.Window).ToArray();
        if (t.OnDrift && Drift(t, deployed) is { } drift) return drift;
        if (t.OnPredictionDrift && PredictionDrift(t, deployed) is { } moved) return moved;
        if (t.AccuracyDrop > 0 && AccuracyDrop(t, facts.Reports.Where(r => r.Version == facts.Deployed && facts.Deployed != 0).ToArray(), facts.LastRunWindow) is { } drop) return drop;
        if (t.NewLabels > 0)
        {
            var labels = fresh.Where(r => r.Cohort == FleetMonitor.AllCohorts).Sum(r => r.Outcomes);
            if (labels >= t.NewLabels) return new PipelineTrigger("labels", string.Create(CultureInfo.InvariantCulture, $"{labels} new labels since the last run (policy: {t.NewLabels})"));
        }

        if (t.Schedule > TimeSpan.Zero && (facts.LastRunAt is not { } previous || facts.Now - previous >= t.Schedule))
        {
            return new PipelineTrigger("schedule", string.Create(CultureInfo.InvariantCulture, $"every {t.Schedule.TotalHours:0.##} h"));
        }

        return null;
    }

    /// <summary>Input drift on the deployed version in a cohort's newest consecutive windows (<see cref="Consecutive"/>).</summary>
    private static PipelineTrigger? Drift(PipelineTriggerPolicy t, IReadOnlyList<DriftReport> reports) =>
        Consecutive(t, reports, r => DriftedInputs(t, r) is { } inputs
            ? string.Create(CultureInfo.InvariantCulture, $"inputs {string.Join(", ", inputs)} ({r.Drifted} of {r.Judged} drifted)")
            : null) is { } found
            ? new PipelineTrigger("drift", $"drift alert on {found}")
            : null;

    /// <summary>Prediction drift on the deployed version in a cohort's newest consecutive windows (<see cref="Consecutive"/>).</summary>
    private static PipelineTrigger? PredictionDrift(PipelineTriggerPolicy t, IReadOnlyList<DriftReport> reports) =>
        Consecutive(t, reports, r => r.PredictionDrift
            ? string.Create(CultureInfo.InvariantCulture, $"outputs moved from the version's first predictions: {DriftText.Outputs(r)}")
            : null) is { } found
            ? new PipelineTrigger("prediction-drift", $"prediction drift on {found}")
            : null;

    /// <summary>
    /// A cohort whose newest <see cref="PipelineTriggerPolicy.DriftWindows"/> consecutive windows (each with enough
    /// predictions to judge) all show a finding (<paramref name="finding"/> not null): one noisy window of a few dozen
    /// rows does not retrain. Says where, and the newest window's finding.
    /// </summary>
    private static string? Consecutive(PipelineTriggerPolicy t, IReadOnlyList<DriftReport> reports, Func<DriftReport, string?> finding)
    {
        foreach (var cohort in reports.Where(r => r.Predictions >= t.MinPredictions).GroupBy(r => r.Cohort).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var newest = cohort.OrderByDescending(r => r.Window).Take(t.DriftWindows).ToArray();
            if (newest.Length < t.DriftWindows || newest[0].Window - newest[^1].Window != t.DriftWindows - 1) continue;
            var findings = newest.Select(finding).ToArray();
            if (findings.Any(f => f is null)) continue;
            var r0 = newest[0];
            return string.Create(CultureInfo.InvariantCulture, $"v{r0.Version} in cohort {r0.Cohort} for {t.DriftWindows} windows to {r0.Window} ({r0.Predictions} predictions): {findings[0]}");
        }

        return null;
    }

    /// <summary>
    /// The drifted inputs that count, or null: with declared inputs, any of them; without, only dataset drift (the
    /// monitor's share of drifted inputs reached) — one input of twenty drifting at 5% significance is what chance
    /// alone gives in most windows.
    /// </summary>
    private static int[]? DriftedInputs(PipelineTriggerPolicy t, DriftReport r)
    {
        if (t.DriftFeatures.Count == 0) return r.DatasetDrift ? r.DriftedFeatures.Select(f => f.Feature).ToArray() : null;
        var features = r.DriftedFeatures.Select(f => f.Feature).Where(t.DriftFeatures.Contains).ToArray();
        return features.Length > 0 ? features : null;
    }

    private static PipelineTrigger? AccuracyDrop(PipelineTriggerPolicy t, IReadOnlyList<DriftReport> reports, long lastRunWindow)
    {
        foreach (var cohort in reports.GroupBy(r => r.Cohort).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var windows = cohort.Where(r => r.Outcomes >= t.MinOutcomes && double.IsFinite(r.Accuracy)).OrderBy(r => r.Window).ToArray();
            if (windows.Length < 3 || windows[^1].Window <= lastRunWindow) continue;
            var newest = windows[^1];
            var earlier = windows[..^1].Select(r => r.Accuracy).Order().ToArray();
            var baseline = earlier.Length % 2 == 1 ? earlier[earlier.Length / 2] : (earlier[earlier.Length / 2 - 1] + earlier[earlier.Length / 2]) / 2;
            var p = newest.Accuracy;
            var upper = p + OneSidedZ95 * Math.Sqrt(Math.Max(p * (1 - p), 1e-9) / newest.Outcomes);
            if (upper < baseline - t.AccuracyDrop)
            {
                return new PipelineTrigger("accuracy", string.Create(CultureInfo.InvariantCulture,
                    $"ground-truth accuracy of v{newest.Version} in cohort {cohort.Key} fell to {p:F4} in window {newest.Window} ({newest.Outcomes} labels; upper bound {upper:F4}) from a median of {baseline:F4} over {earlier.Length} earlier windows (policy: drop above {t.AccuracyDrop:F2})"));
            }
        }

        return null;
    }
}
