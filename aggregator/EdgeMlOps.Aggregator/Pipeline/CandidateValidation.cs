using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Explanations;
using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Runtime;

namespace EdgeMlOps.Aggregator.Pipeline;

/// <summary>
/// Gathers what <see cref="CandidateGates"/> judges: both versions scored on the held-out data, both explained, both
/// timed on the reference runtime, the candidate's training sketches, and (when the policy asks) the candidate scored
/// by federated evaluation on the devices' own labels — then asks the gates.
/// </summary>
public sealed class CandidateValidation(
    AggregatorOptions options, ArtifactStore artifacts, IModelEvaluator? evaluator, VersionExplainer explainer, DriftWatch drift, FederatedEvaluationRunner federated)
{
    /// <summary>Federated evaluation of the training head (the base before the rounds, the candidate after), or null when the policy does not ask.</summary>
    public async Task<FederatedEvaluationReport?> FederatedAsync(CandidateGateLimits limits, CancellationToken cancellationToken) =>
        limits.FederatedDevices > 0 ? await federated.RunAsync(limits.FederatedDevices, cancellationToken).ConfigureAwait(false) : null;

    public async Task<IReadOnlyList<GateCheck>> JudgeAsync(PipelinePolicy policy, ModelVersionRecord candidate, ModelVersionRecord deployed, FederatedEvaluationReport? federatedBase, CancellationToken cancellationToken)
    {
        var limits = policy.Gates;
        var candidateBytes = artifacts.Read(candidate.InferenceSha256);
        var deployedBytes = artifacts.Read(deployed.InferenceSha256);
        IReadOnlyDictionary<string, EvaluationScore>? mine = null, theirs = null;
        if (evaluator is not null)
        {
            using (var model = artifacts.LoadModel(candidateBytes, options.Model)) mine = evaluator.EvaluateCohorts(model);
            using (var model = artifacts.LoadModel(deployedBytes, options.Model)) theirs = evaluator.EvaluateCohorts(model);
        }

        var federatedCandidate = await FederatedAsync(limits, cancellationToken).ConfigureAwait(false);
        var needExplanations = limits.MinTopInputOverlap > 0 || limits.MaxSubgroupGapIncrease > 0;
        var reference = drift.Monitor.Reference(candidate.Version);
        var latency = limits.MaxLatencyRatio > 0 ? ReferenceLatency.Compare(candidateBytes, deployedBytes, TimingRows(reference), options.Model, limits.LatencyRequests, artifacts.PreprocessOf(options.Model)) : null;
        var facts = new CandidateFacts(
            candidate.Version, deployed.Version, candidate.State, candidate.StateReason ?? string.Empty, mine, theirs, options.Governance.MinCohortSamples,
            federatedBase, federatedCandidate,
            needExplanations ? explainer.For(candidate) : null, needExplanations ? explainer.For(deployed) : null, explainer.Options.TopInputs,
            latency, reference);
        return CandidateGates.Judge(limits, facts);
    }

    /// <summary>The held-out rows; without them, one row of the training samples' means (a dense model's latency does not depend on the values).</summary>
    private float[] TimingRows(EdgeMlOps.Shared.Monitoring.WindowProfile? reference)
    {
        if (evaluator?.Rows is { Count: > 0 } rows) return rows.Features;
        return reference is { } r && r.Features.Length == options.Model.InputDim ? r.Features.Select(f => (float)f.Mean).ToArray() : new float[options.Model.InputDim];
    }
}
