using System.Globalization;
using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Explanations;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Aggregator.Pipeline;

/// <summary>Two versions timed on the same requests, interleaved, on the reference runtime.</summary>
public sealed record LatencyComparison(int Requests, double CandidateP95Ms, double DeployedP95Ms)
{
    public double Ratio => DeployedP95Ms > 0 ? CandidateP95Ms / DeployedP95Ms : double.PositiveInfinity;
}

/// <summary>Everything the gates judge a candidate on; a null fact means the measurement was not made (its gate says so).</summary>
public sealed record CandidateFacts(
    ulong Candidate,
    ulong Deployed,
    string RegistryState,
    string RegistryReason,
    IReadOnlyDictionary<string, EvaluationScore>? HeldOutCandidate,
    IReadOnlyDictionary<string, EvaluationScore>? HeldOutDeployed,
    int MinCohortSamples,
    FederatedEvaluationReport? FederatedBase,
    FederatedEvaluationReport? FederatedCandidate,
    VersionExplanation? ExplainCandidate,
    VersionExplanation? ExplainDeployed,
    int TopInputs,
    LatencyComparison? Latency,
    WindowProfile? TrainingReference);

/// <summary>
/// The retraining pipeline's validation gates, pure: the registry's own validation (a rejected version never goes on),
/// non-inferiority on held-out data overall and per cohort, non-inferiority on the devices' own data (federated
/// evaluation of the base and of the candidate), the explainability check (top inputs), the subgroup gaps, latency on
/// the reference runtime, and the quality of the training data from its sketches. Every enabled gate gives a verdict
/// with its figures; a gate whose measurement is missing fails (fail closed) rather than passing silently.
/// </summary>
public static class CandidateGates
{
    public static IReadOnlyList<GateCheck> Judge(CandidateGateLimits limits, CandidateFacts f)
    {
        var checks = new List<GateCheck>
        {
            new("registry", f.RegistryState != Registry.VersionStates.Rejected, $"v{f.Candidate} is {f.RegistryState}: {f.RegistryReason}"),
        };
        checks.Add(HeldOut(limits, f));
        if (limits.FederatedDevices > 0) checks.Add(Federated(limits, f));
        if (limits.MinTopInputOverlap > 0) checks.Add(Explainability(limits, f));
        if (limits.MaxSubgroupGapIncrease > 0) checks.Add(Subgroups(limits, f));
        if (limits.MaxLatencyRatio > 0) checks.Add(Latency(limits, f));
        if (limits.MinTrainingSamples > 0 || limits.MaxMissingShare < 1) checks.Add(DataQuality(limits, f));
        return checks;
    }

    private static GateCheck HeldOut(CandidateGateLimits limits, CandidateFacts f)
    {
        if (f.HeldOutCandidate is not { } mine || f.HeldOutDeployed is not { } theirs)
        {
            return new GateCheck("held-out", false, "no held-out evaluation of both versions (Aggregator:Evaluation:DataFile)");
        }

        var worse = new List<string>();
        var compared = 0;
        foreach (var (cohort, score) in mine.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            if (score.Samples < f.MinCohortSamples || !theirs.TryGetValue(cohort, out var live) || live.Samples < f.MinCohortSamples) continue;
            compared++;
            if (score.Accuracy < live.Accuracy - limits.MaxHeldOutDrop) worse.Add(Invariant($"{cohort} {live.Accuracy:F4} -> {score.Accuracy:F4}"));
        }

        var overall = mine.TryGetValue(InferenceModel.AllCohorts, out var a) && theirs.TryGetValue(InferenceModel.AllCohorts, out var b)
            ? Invariant($"overall {b.Accuracy:F4} -> {a.Accuracy:F4}") : "no overall score";
        return worse.Count == 0
            ? new GateCheck("held-out", compared > 0, compared > 0 ? Invariant($"{overall}; {compared} cohorts within {limits.MaxHeldOutDrop:F2}") : "no cohort with enough held-out samples")
            : new GateCheck("held-out", false, Invariant($"worse by more than {limits.MaxHeldOutDrop:F2} in ") + string.Join(", ", worse));
    }

    private static GateCheck Federated(CandidateGateLimits limits, CandidateFacts f)
    {
        if (f.FederatedBase is not { Reported: > 0 } before || f.FederatedCandidate is not { Reported: > 0 } after)
        {
            return new GateCheck("federated", false, "federated evaluation of the base or of the candidate got no answers");
        }

        var detail = Invariant($"devices' data: v{before.Version} {before.Accuracy:F4} ({before.Samples} samples on {before.Reported} devices) -> v{after.Version} {after.Accuracy:F4} ({after.Samples} on {after.Reported})");
        return new GateCheck("federated", after.Accuracy >= before.Accuracy - limits.MaxFederatedDrop, detail);
    }

    private static GateCheck Explainability(CandidateGateLimits limits, CandidateFacts f)
    {
        if (f.ExplainCandidate is not { } mine || f.ExplainDeployed is not { } theirs)
        {
            return new GateCheck("explainability", false, "no permutation importance of both versions on held-out data");
        }

        var k = Math.Min(f.TopInputs, mine.Importance.Count);
        var top = mine.Top(k).Select(i => i.Input).ToHashSet();
        var before = theirs.Top(k).Select(i => i.Input).ToArray();
        var overlap = (double)before.Count(top.Contains) / Math.Max(1, k);
        return new GateCheck("explainability", overlap >= limits.MinTopInputOverlap,
            Invariant($"top {k} inputs overlap {overlap:P0} with v{theirs.Version} (policy: at least {limits.MinTopInputOverlap:P0}); now {string.Join(", ", top.Order())}"));
    }

    private static GateCheck Subgroups(CandidateGateLimits limits, CandidateFacts f)
    {
        if (f.ExplainCandidate is not { } mine || f.ExplainDeployed is not { } theirs)
        {
            return new GateCheck("subgroups", false, "no subgroup analysis of both versions on held-out data");
        }

        var widened = mine.Gaps.Where(g => g.Metric == "accuracy")
            .Select(g => (Gap: g, Before: theirs.Gaps.FirstOrDefault(b => b.Attribute == g.Attribute && b.Metric == g.Metric)))
            .Where(p => p.Before is not null && p.Gap.Gap > p.Before.Gap + limits.MaxSubgroupGapIncrease)
            .Select(p => Invariant($"{p.Gap.Attribute} {p.Before!.Gap:F4} -> {p.Gap.Gap:F4}"))
            .ToArray();
        return widened.Length == 0
            ? new GateCheck("subgroups", true, Invariant($"{mine.Gaps.Count(g => g.Metric == "accuracy")} accuracy gaps, none widened by more than {limits.MaxSubgroupGapIncrease:F2}"))
            : new GateCheck("subgroups", false, "accuracy gap widened: " + string.Join(", ", widened));
    }

    private static GateCheck Latency(CandidateGateLimits limits, CandidateFacts f)
    {
        if (f.Latency is not { } l) return new GateCheck("latency", false, "latency not measured (no held-out rows to time on)");
        return new GateCheck("latency", l.Ratio <= limits.MaxLatencyRatio,
            Invariant($"p95 {l.CandidateP95Ms:F3} ms against {l.DeployedP95Ms:F3} ms on the same {l.Requests} requests (ratio {l.Ratio:F2}, policy at most {limits.MaxLatencyRatio:F2})"));
    }

    private static GateCheck DataQuality(CandidateGateLimits limits, CandidateFacts f)
    {
        if (f.TrainingReference is not { } reference || reference.Features.Length == 0)
        {
            return new GateCheck("data-quality", false, "no training-sample sketches for the candidate (Monitoring:ReferenceDevicesPerRound)");
        }

        var samples = reference.Features.Max(p => p.Count + p.Missing + p.NonFinite);
        var worst = reference.Features.Select((p, i) => (Input: i, Share: (double)(p.Missing + p.NonFinite) / Math.Max(1, p.Count + p.Missing + p.NonFinite))).MaxBy(x => x.Share);
        var ok = samples >= limits.MinTrainingSamples && worst.Share <= limits.MaxMissingShare;
        return new GateCheck("data-quality", ok,
            Invariant($"{samples} training samples sketched (policy: at least {limits.MinTrainingSamples}); worst missing or non-finite share {worst.Share:P2} on input {worst.Input} (policy: at most {limits.MaxMissingShare:P0})"));
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
