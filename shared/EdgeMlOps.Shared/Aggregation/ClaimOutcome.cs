namespace EdgeMlOps.Shared.Aggregation;

/// <summary>What a store shared by aggregator replicas answered when a device's one contribution to a round was claimed.</summary>
public enum ClaimOutcome
{
    /// <summary>This replica holds the claim (also when it retries its own).</summary>
    Claimed,

    /// <summary>The device already contributed through another replica: a duplicate.</summary>
    ClaimedElsewhere,

    /// <summary>The round is closed (or was never opened) in the shared store: the update came too late.</summary>
    RoundClosed,
}
