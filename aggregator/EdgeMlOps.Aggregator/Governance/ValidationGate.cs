using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Runtime;

namespace EdgeMlOps.Aggregator.Governance;

/// <summary>A candidate against the live version in one cohort (accuracy on the same evaluation data).</summary>
public sealed record CohortComparison(string Cohort, int Samples, double? Candidate, double? Live, double? Delta, bool Gated);

/// <summary>What the validation gates decided, and why.</summary>
public sealed record ValidationOutcome(string State, string Reason, IReadOnlyList<CohortComparison> Cohorts)
{
    public bool NeedsReview => State == VersionStates.Candidate;
}

/// <summary>
/// Automatic validation: compare the candidate with the live version on the same evaluation data,
/// overall and per cohort (subpopulation analysis). A regression beyond the margin in any cohort
/// with enough samples rejects; a large unexplained change either way asks for a person's review.
/// </summary>
public static class ValidationGate
{
    public static ValidationOutcome Decide(
        IReadOnlyDictionary<string, EvaluationScore>? candidate,
        IReadOnlyDictionary<string, EvaluationScore>? live,
        GovernanceOptions options)
    {
        if (candidate is null || !candidate.TryGetValue(InferenceModel.AllCohorts, out var overall) || overall.Samples == 0)
        {
            return new ValidationOutcome(VersionStates.Candidate, "no evaluation data on the aggregator: needs manual review", []);
        }

        var cohorts = candidate
            .OrderBy(c => c.Key == InferenceModel.AllCohorts ? 0 : 1).ThenBy(c => c.Key, StringComparer.Ordinal)
            .Select(c =>
            {
                // A score that is not a number (R² of a cohort whose targets do not vary) is none: recorded, never gated.
                var before = live is not null && live.TryGetValue(c.Key, out var l) && l.Samples > 0 && double.IsFinite(l.Accuracy) ? l.Accuracy : (double?)null;
                var now = double.IsFinite(c.Value.Accuracy) ? c.Value.Accuracy : (double?)null;
                return new CohortComparison(c.Key, c.Value.Samples, now, before, now - before, c.Value.Samples >= options.MinCohortSamples && before is not null && now is not null);
            })
            .ToArray();
        if (live is null) return new ValidationOutcome(VersionStates.Validated, FormattableString.Invariant($"no live version to compare with; accuracy {overall.Accuracy:F4}"), cohorts);

        var regressed = cohorts.Where(c => c.Gated && c.Delta < -options.MaxCohortRegression).ToArray();
        if (regressed.Length > 0)
        {
            return new ValidationOutcome(VersionStates.Rejected,
                "regressed beyond " + options.MaxCohortRegression.ToString("P1", System.Globalization.CultureInfo.InvariantCulture) + " in "
                + string.Join(", ", regressed.Select(c => FormattableString.Invariant($"{c.Cohort} ({c.Live:F4} -> {c.Candidate:F4})"))),
                cohorts);
        }

        var change = cohorts[0].Delta ?? 0;
        if (Math.Abs(change) > options.ReviewChange)
        {
            return new ValidationOutcome(VersionStates.Candidate,
                FormattableString.Invariant($"review required: overall accuracy changed by {change:+0.0000;-0.0000} (more than {options.ReviewChange:F2}) without explanation"),
                cohorts);
        }

        return new ValidationOutcome(VersionStates.Validated, FormattableString.Invariant($"accuracy {overall.Accuracy:F4} ({change:+0.0000;-0.0000} against live); no cohort regressed beyond {options.MaxCohortRegression:F2}"), cohorts);
    }
}
