using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Aggregator.Monitoring;

/// <summary>Drift of one (version, cohort, window) against the version's reference profile.</summary>
public sealed record DriftReport(
    ulong Version,
    string Cohort,
    long Window,
    int Features,
    int Judged,
    int Drifted,
    double Share,
    bool DatasetDrift,
    IReadOnlyList<FeatureDrift> DriftedFeatures,
    long Predictions,
    long Outcomes,
    double Accuracy)
{
    /// <summary>What the window's features were compared with: <c>fleet</c> (the version's reference), <c>cohort</c> (the cohort's own training sketches), <c>production</c> (the version's first production rows, for a model served by tensor names) or <c>none</c> (no reference: only its predictions were judged).</summary>
    public string Reference { get; init; } = "fleet";

    /// <summary>
    /// Prediction drift: outputs judged against the version's first evaluated fleet-wide windows (until they hold
    /// <see cref="FleetMonitor.ProductionReferenceRows"/> predictions) — a classifier's predicted classes (one test, output 0), or each value of a
    /// regressor or label probability of a multi-label classifier. 0 until that reference has formed, or with too few
    /// predictions in the window.
    /// </summary>
    public int OutputsJudged { get; init; }

    /// <summary>The outputs whose distribution moved (the test that said so, per output).</summary>
    public IReadOnlyList<FeatureDrift> DriftedOutputs { get; init; } = [];

    /// <summary>The outputs judged are a classifier's predicted classes (one test, output 0).</summary>
    public bool ClassOutputs { get; init; }

    /// <summary>Any output drifted.</summary>
    public bool PredictionDrift => DriftedOutputs.Count > 0;
}
