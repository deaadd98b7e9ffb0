using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Shared.Rollouts;

/// <summary>
/// How a device decides, alone, whether a rollout plan applies to it: cohort by tags, stage by a
/// stable hash of (device id, rollout id) in [0, 1). The aggregator computes the same to know who
/// was targeted, so one retained plan serves any number of devices.
/// </summary>
public static class RolloutMembership
{
    /// <summary>The device's position in the rollout, uniform in [0, 1) and independent across rollouts.</summary>
    public static double Position(string deviceId, string rolloutId) => StableHash.UnitInterval(rolloutId, deviceId);

    /// <summary>True if the device's tags match every key of the cohort selector.</summary>
    public static bool InCohort(IReadOnlyDictionary<string, string> tags, RolloutPlan plan) => InCohort(tags, plan.Cohort);

    /// <summary>True if the device's tags match every key of <paramref name="cohort"/> (a rollout's, a model line's) with one of its values.</summary>
    public static bool InCohort(IReadOnlyDictionary<string, string> tags, IReadOnlyDictionary<string, CohortValues> cohort)
    {
        foreach (var (key, allowed) in cohort)
        {
            if (!tags.TryGetValue(key, out var value) || !allowed.Values.Contains(value)) return false;
        }

        return true;
    }

    /// <summary>The first stage (index) whose share includes the device, or -1 if none does.</summary>
    public static int StageOf(string deviceId, RolloutPlan plan)
    {
        var position = Position(deviceId, plan.RolloutId);
        for (var i = 0; i < plan.StageFractions.Count; i++)
        {
            if (position < plan.StageFractions[i]) return i;
        }

        return -1;
    }

    /// <summary>True if the plan currently asks this device to run the target version.</summary>
    public static bool IsTargeted(string deviceId, IReadOnlyDictionary<string, string> tags, RolloutPlan plan) =>
        plan.State is RolloutState.Active or RolloutState.Paused or RolloutState.Completed
        && InCohort(tags, plan)
        && StageOf(deviceId, plan) is var stage and >= 0
        && (plan.State == RolloutState.Completed || stage <= plan.Stage);

    /// <summary>
    /// True if the plan asks this device to shadow its target: the rollout is in its shadow phase, the device is in
    /// the cohort and its position is below the shadow share (the devices of the first stage shadow first).
    /// </summary>
    public static bool IsShadowing(string deviceId, IReadOnlyDictionary<string, string> tags, RolloutPlan plan) =>
        plan.State == RolloutState.Shadow
        && plan.Shadow is { } shadow
        && InCohort(tags, plan)
        && Position(deviceId, plan.RolloutId) < shadow.Share;

    /// <summary>True if the plan's A/B test includes this device (in the cohort, position below the experiment share).</summary>
    public static bool IsInExperiment(string deviceId, IReadOnlyDictionary<string, string> tags, RolloutPlan plan) =>
        plan.State == RolloutState.Experiment
        && plan.Experiment is { } experiment
        && InCohort(tags, plan)
        && Position(deviceId, plan.RolloutId) < experiment.Share;

    /// <summary>True if the request goes to arm B (the target) in the plan's A/B test: a stable hash of the request id below the split.</summary>
    public static bool ToArmB(string rolloutId, string requestId, double split) => StableHash.UnitInterval(rolloutId, "request\n" + requestId) < split;

    /// <summary>
    /// With device randomisation: true if every request of this device goes to arm B — a stable hash of the device id,
    /// independent of its position (which decides whether it takes part), below the split.
    /// </summary>
    public static bool DeviceInArmB(string rolloutId, string deviceId, double split) => StableHash.UnitInterval(rolloutId, "arm\n" + deviceId) < split;
}
