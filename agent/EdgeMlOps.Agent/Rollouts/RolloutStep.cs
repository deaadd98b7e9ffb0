using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Rollouts;

/// <summary>What a device does about a verified plan.</summary>
internal enum RolloutAction
{
    /// <summary>Nothing to install or revert.</summary>
    None,

    /// <summary>Go back from the target to the fleet's previous version (an aborted rollout the device took part in).</summary>
    Revert,

    /// <summary>Install the fleet's deployed version if the device is behind it (never a downgrade).</summary>
    CatchUp,

    /// <summary>Install the target on trial and watch it for the plan's health window.</summary>
    Install,

    /// <summary>Keep serving; load the target beside the served version and score requests with it in the shadow.</summary>
    Shadow,

    /// <summary>Load the target beside the served version and answer the A/B test's share of requests with it.</summary>
    Experiment,
}

/// <summary>An action, then (if set) the progress to record with its reason.</summary>
internal readonly record struct RolloutStep(RolloutAction Action, RolloutPhase? Mark = null, string Reason = "")
{
    public const string AbortReason = "rollout aborted by the fleet (signed rollback directive)";

    /// <summary>
    /// The device's decision about a plan, without effects: <paramref name="servingName"/>/<paramref name="servingVersion"/>
    /// is what it serves (null before any install), <paramref name="previous"/> its phase in this rollout so far (null if
    /// none), <paramref name="targeted"/> whether the plan's stages include it, <paramref name="beside"/> whether the
    /// plan's shadow phase or A/B test does (the target runs beside the served version).
    /// </summary>
    public static RolloutStep Decide(RolloutPlan plan, ulong target, string? servingName, ulong? servingVersion, RolloutPhase? previous, bool targeted, bool beside = false)
    {
        if (servingName is not null && servingName != plan.ModelName) return new(RolloutAction.None);
        var onTarget = servingVersion == target;
        var failedHere = previous is RolloutPhase.Failed or RolloutPhase.RolledBack;
        if (plan.State is RolloutState.Shadow or RolloutState.Experiment && beside && !onTarget)
        {
            // Both need something served to compare with; a target that failed to load here is not retried.
            if (servingVersion is null or 0) return new(RolloutAction.CatchUp);
            return failedHere ? new(RolloutAction.None) : new(plan.State == RolloutState.Shadow ? RolloutAction.Shadow : RolloutAction.Experiment);
        }

        if (plan.State == RolloutState.Aborted)
        {
            if (onTarget) return new(RolloutAction.Revert, Reason: AbortReason);
            return previous switch
            {
                RolloutPhase.Shadowing => new(RolloutAction.CatchUp, RolloutPhase.NotTargeted, "rollout aborted during its shadow test; the version was never served here"),
                RolloutPhase.Experimenting => new(RolloutAction.CatchUp, RolloutPhase.NotTargeted, "rollout aborted during its A/B test; every request goes to the served version again"),
                null => new(RolloutAction.CatchUp, RolloutPhase.NotTargeted),
                _ => new(RolloutAction.CatchUp),
            };
        }

        if (!targeted) return onTarget ? new(RolloutAction.None) : new(RolloutAction.CatchUp, failedHere ? null : RolloutPhase.NotTargeted);

        // A target that already failed here is not retried within the same rollout.
        if (failedHere) return new(RolloutAction.None);
        if (onTarget) return previous is null ? new(RolloutAction.None, RolloutPhase.Healthy, "already on the target version") : new(RolloutAction.None);
        return new(RolloutAction.Install);
    }
}
