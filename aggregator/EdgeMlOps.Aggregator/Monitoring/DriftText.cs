using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Aggregator.Monitoring;

/// <summary>How a drift report's findings read in a log line and an alert's text.</summary>
public static class DriftText
{
    /// <summary>The drifted features (at most ten) as <c>3 (ks 0.001), 7 (wasserstein 0.21)</c>.</summary>
    public static string Features(DriftReport report) => List(report.DriftedFeatures);

    /// <summary>The drifted outputs: a classifier's <c>predicted classes (chisquare 1e-05)</c>, else as the features.</summary>
    public static string Outputs(DriftReport report) =>
        report.ClassOutputs && report.DriftedOutputs is [var classes] ? FormattableString.Invariant($"predicted classes ({classes.Method} {classes.Score:G3})") : List(report.DriftedOutputs);

    private static string List(IEnumerable<FeatureDrift> drifts) =>
        string.Join(", ", drifts.Take(10).Select(f => FormattableString.Invariant($"{f.Feature} ({f.Method} {f.Score:G3})")));
}
