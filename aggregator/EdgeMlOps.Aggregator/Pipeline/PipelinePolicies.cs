using System.Globalization;
using System.Text.Json;
using EdgeMlOps.Aggregator.Governance;

namespace EdgeMlOps.Aggregator.Pipeline;

/// <summary>
/// The retraining pipeline's policy in force: configuration's (<c>Aggregator:Pipeline</c>), unless an approver set one
/// through the admin API — kept in the registry, validated like configuration, audited with the policy before and after.
/// </summary>
public sealed class PipelinePolicies(AggregatorOptions options, FleetStores stores, TimeProvider time)
{
    public PipelinePolicy Current => Stored() ?? options.Pipeline;

    /// <summary><c>registry</c> or <c>configuration</c>.</summary>
    public string Source => stores.Registry.PipelinePolicy(options.ModelName) is null ? "configuration" : "registry";

    /// <summary>Replaces the policy, or with null goes back to configuration's; audited. A running run keeps its copy.</summary>
    public PipelinePolicy Set(PipelinePolicy? policy, string actor, string reason)
    {
        if (policy is not null)
        {
            var errors = policy.Errors().ToList();
            if (policy.Enabled && options.Governance.Mode != DeploymentMode.Governed) errors.Add("Pipeline:Enabled: the retraining pipeline needs Governance:Mode=governed");
            if (policy.Enabled && options.Rounds.Mode != RoundMode.Synchronous) errors.Add("Pipeline:Enabled: the retraining pipeline trains synchronous rounds (Rounds:Mode)");
            if (policy.Enabled && options.Monitoring.RetrainOn != EdgeMlOps.Aggregator.Monitoring.RetrainTrigger.Off) errors.Add("Pipeline:Enabled: Monitoring:RetrainOn starts rounds of its own; set it off");
            if (errors.Count > 0) throw new ArgumentException(string.Join("; ", errors));
        }

        var before = Current;
        stores.Registry.SetPipelinePolicy(options.ModelName, policy is null ? null : JsonSerializer.Serialize(policy, PipelineJson.Default.PipelinePolicy));
        var after = Current;
        stores.Audit.Append(time.GetUtcNow(), actor, "pipeline.policy", $"pipeline/{options.ModelName}", reason, Summary(before), (policy is null ? "configuration: " : "registry: ") + Summary(after));
        return after;
    }

    private PipelinePolicy? Stored() =>
        stores.Registry.PipelinePolicy(options.ModelName) is { } json ? JsonSerializer.Deserialize(json, PipelineJson.Default.PipelinePolicy) : null;

    private static string Summary(PipelinePolicy p) => string.Create(CultureInfo.InvariantCulture,
        $"{(p.Enabled ? "enabled" : "disabled")}, {p.Rounds} rounds, {p.Approvals} approvals, fresh labels {p.FreshLabels}, gates held-out {p.Gates.MaxHeldOutDrop}, federated {p.Gates.FederatedDevices}/{p.Gates.MaxFederatedDrop}, top inputs {p.Gates.MinTopInputOverlap}, subgroups {p.Gates.MaxSubgroupGapIncrease}, latency {p.Gates.MaxLatencyRatio}, stages {string.Join("/", p.Rollout.Stages)}, shadow {p.Rollout.Shadow?.Share ?? 0}");
}
