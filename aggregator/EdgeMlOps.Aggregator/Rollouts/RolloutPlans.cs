using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Rollouts;

/// <summary>Builds the signed, retained plan a rollout record stands for: one message for the whole fleet.</summary>
internal sealed class RolloutPlans(string fleet, FleetStores stores, Trust.ManifestSigner signer, Func<Uri> artifactBaseUrl)
{
    /// <summary>The plan for a rollout; with <paramref name="signManifest"/> the target's and the replaced version's manifests are signed into it.</summary>
    public RolloutPlan Build(RolloutRecord rollout, bool signManifest)
    {
        var plan = new RolloutPlan
        {
            Fleet = fleet,
            RolloutId = rollout.Id,
            Revision = rollout.Revision,
            ModelName = rollout.Model,
            Stage = (uint)rollout.Stage,
            State = rollout.State switch
            {
                RolloutStatusKind.Active => RolloutState.Active,
                RolloutStatusKind.Paused => RolloutState.Paused,
                RolloutStatusKind.Aborted => RolloutState.Aborted,
                RolloutStatusKind.Shadow => RolloutState.Shadow,
                RolloutStatusKind.Experiment => RolloutState.Experiment,
                _ => RolloutState.Completed,
            },
            Health = new HealthPolicy
            {
                WindowSeconds = (uint)rollout.Request.Health.WindowSeconds,
                MinPredictions = (uint)rollout.Request.Health.MinPredictions,
                MaxErrorRate = rollout.Request.Health.MaxErrorRate,
                LatencyBudgetP95Ms = rollout.Request.Health.LatencyBudgetP95Ms,
            },
            IssuedUnixMs = stores.Issued.Next(),
            ArtifactBaseUrl = artifactBaseUrl().ToString(),
        };
        plan.StageFractions.Add(rollout.Stages);
        if (rollout.Request.Shadow is { } shadow)
        {
            plan.Shadow = new ShadowPolicy { Share = shadow.Share, SampleRate = shadow.SampleRate, MaxCpuShare = shadow.MaxCpuShare, MaxPending = (uint)shadow.MaxPending };
        }

        if (rollout.Request.Experiment is { } experiment) plan.Experiment = new ExperimentPolicy
        {
            Share = experiment.Share,
            Split = rollout.Split ?? experiment.Split,
            Unit = experiment.Unit == Experiments.RandomisationUnit.Device ? ExperimentUnit.Device : ExperimentUnit.Request,
        };
        foreach (var (key, values) in rollout.Request.Cohort) plan.Cohort[key] = new CohortValues { Values = { values } };
        if (signManifest)
        {
            plan.TargetManifest = signer.Sign(stores.Governance.Find(rollout.Model, rollout.Request.Version)).Envelope;
            if (rollout.PreviousVersion > 0 && stores.Registry.Version(rollout.Model, rollout.PreviousVersion) is { } previous)
            {
                plan.PreviousManifest = signer.Sign(previous).Envelope;
            }
        }

        return plan;
    }
}
