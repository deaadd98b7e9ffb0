namespace EdgeMlOps.Aggregator.Monitoring;

/// <summary>What starts a retraining round by itself (<c>Monitoring:RetrainOn</c>).</summary>
public enum RetrainTrigger
{
    /// <summary>Nothing: rounds run on their schedule (or the retraining pipeline decides).</summary>
    Off,

    /// <summary>A cohort's share of drifted features reaches <c>Drift:Share</c>.</summary>
    Dataset,

    /// <summary>Any drifted feature.</summary>
    Feature,

    /// <summary>Any drifted output (prediction drift: predicted classes, a regressor's values, label probabilities).</summary>
    Prediction,
}
