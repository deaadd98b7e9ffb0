using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Agent.Serving;

/// <summary>
/// What monitoring sketches of one served sample, on every path that answers one (alone, in a session, a classifier's
/// or a regressor's): the features a front end made, or for samples of several lengths the sample's mean over its
/// varying axis and then its context values (<see cref="SampleLengths.Summary"/>: as wide whatever the length); null
/// for the row as it is.
/// </summary>
internal static class MonitoredFeatures
{
    public static float[]? Of(ModelSpec spec, float[]? front, float[] row) => front ?? spec.Graph?.Varying?.Summary(row);
}
