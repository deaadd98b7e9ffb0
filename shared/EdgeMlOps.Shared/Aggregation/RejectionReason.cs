namespace EdgeMlOps.Shared;

/// <summary>Why an incoming update (or message) was refused. Counted per reason by the aggregator.</summary>
public enum RejectionReason
{
    /// <summary>Not a parseable message, or a required field is missing.</summary>
    Malformed,
    /// <summary>A protocol version this build does not speak.</summary>
    ProtocolVersion,
    /// <summary>Larger than the configured maximum payload.</summary>
    Oversized,
    /// <summary>No round with that id is open (late, replayed, or invented).</summary>
    UnknownRound,
    /// <summary>Computed against a different model or base version than the round's.</summary>
    WrongBaseVersion,
    /// <summary>Sent by a device that was not selected for the round.</summary>
    NotSelected,
    /// <summary>A second update from the same device for the same round, or a replayed message id.</summary>
    Duplicate,
    /// <summary>Tensor names, shapes or sizes do not match the model.</summary>
    WrongShape,
    /// <summary>NaN or infinity in the weights.</summary>
    NonFinite,
    /// <summary>A sample count of zero or one beyond the configured maximum.</summary>
    BadSampleCount,
    /// <summary>The round already reached its target or its deadline.</summary>
    RoundClosed,
    /// <summary>An L2 norm far beyond what the strategy accepts (hostile or broken; DP clips anything smaller).</summary>
    NormTooLarge,
    /// <summary>Asynchronous (FedBuff) update computed on a version older than the staleness cap allows, or a profile of a window older than the monitor keeps.</summary>
    Stale,
    /// <summary>A profile (sketches, counts) that is impossible or of the wrong shape; it is not merged.</summary>
    BadProfile,
    /// <summary>The aggregator's store could not record it (the database stayed unreachable through its retries).</summary>
    StoreUnavailable,
    /// <summary>An edge gateway's partial naming a device the gateway does not serve (Edge:Gateways), or sent by no gateway the aggregator knows.</summary>
    NotAuthorized,
}
