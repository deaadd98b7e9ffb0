using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Evaluation;

/// <summary>The current version scored on devices' own labelled data; no sample leaves a device.</summary>
public sealed record FederatedEvaluationReport(string RoundId, ulong Version, int Selected, int Reported, long Samples, double Accuracy, double Loss, FederatedImportance? Importance = null);

/// <summary>One federated evaluation in progress: which devices were asked, which answered (once each, for the right version, with finite scores), and the combined score.</summary>
public sealed class FederatedEvaluation(string roundId, ulong version, string[] selected, FederatedStrategy strategy, IReadOnlyList<uint>? importanceInputs = null,
    IReadOnlyList<DependenceRequest>? dependence = null, int classes = 0, ImportancePrivacy? privacy = null)
{
    private readonly IReadOnlyList<uint> _importanceInputs = importanceInputs ?? [];
    private readonly IReadOnlyList<DependenceRequest> _dependence = dependence ?? [];
    private readonly HashSet<string> _selected = new(selected, StringComparer.Ordinal);
    private readonly HashSet<string> _reported = new(StringComparer.Ordinal);
    private readonly List<EvaluationResult> _results = new();

    public string RoundId { get; } = roundId;

    public TaskCompletionSource AllReported { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool TryAdd(string deviceId, EvaluationResult result, out RejectionReason reason)
    {
        lock (_reported)
        {
            RejectionReason? problem = !_selected.Contains(deviceId) ? RejectionReason.NotSelected
                : result.Version != version ? RejectionReason.WrongBaseVersion
                : result.SampleCount > EdgeMlOps.Shared.Aggregation.UpdateChecks.MaxSamplesPerReport ? RejectionReason.BadSampleCount
                : !double.IsFinite(result.Accuracy) || result.Accuracy is < 0 or > 1 || (result.SampleCount > 0 && !PlausibleLoss(result)) ? RejectionReason.NonFinite
                : !FederatedImportance.IsPlausible(result, _importanceInputs.Count) || !FederatedDependence.IsPlausible(result, _dependence, classes) ? RejectionReason.Malformed
                : _reported.Contains(deviceId) ? RejectionReason.Duplicate
                : null;
            reason = problem.GetValueOrDefault();
            if (problem is not null) return false;
            _reported.Add(deviceId);
            _results.Add(result);
            if (_reported.Count == _selected.Count) AllReported.TrySetResult();
            return true;
        }
    }

    /// <summary>A loss is never negative, and the fleet's sum of losses weighted by samples must stay finite.</summary>
    private static bool PlausibleLoss(EvaluationResult result) => result.Loss >= 0 && double.IsFinite(result.Loss * result.SampleCount);

    public FederatedEvaluationReport Report()
    {
        lock (_reported)
        {
            var summary = strategy.AggregateEvaluate(_results);
            var curves = _dependence.Count > 0 ? FederatedDependence.Combine(_dependence, classes, _results, privacy) : [];
            var importance = FederatedImportance.Combine(version, _importanceInputs, _results, privacy);
            if (curves.Count > 0)
            {
                var devices = _results.Count(r => r.Dependence.Count > 0);
                importance = (importance ?? new FederatedImportance(version, devices, _results.Where(r => r.Dependence.Count > 0).Sum(r => (long)r.Dependence[0].Rows), double.NaN, [])) with { Dependence = curves };
                if (privacy is { Enabled: true } dp)
                {
                    // Importance and the curves come from the same rows: their ε composes.
                    var releases = importance.Importance.Count > 0 ? 2 : 1;
                    importance = importance with { Epsilon = dp.Epsilon(releases), Delta = dp.Delta, DependenceNoiseStdDev = dp.DependenceNoiseStdDev(_dependence.Count, _dependence.Max(q => q.Grid.Count)) };
                }
            }

            return new FederatedEvaluationReport(RoundId, version, _selected.Count, _reported.Count, summary.Samples, summary.Accuracy, summary.Loss, importance);
        }
    }
}
