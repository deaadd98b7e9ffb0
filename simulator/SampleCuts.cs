using System.Globalization;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Simulator;

/// <summary>
/// For a model that takes samples of several lengths (<c>--axis-lengths frames=6..8</c>): each training sample cut to a
/// length of its own, drawn uniformly over the range from the run's seed and the sample's index — the same cut on every
/// run and in every worker process — as devices that heard clips of different lengths would hold them. Held-out
/// samples stay whole (the aggregator scores the longest length).
/// </summary>
public static class SampleCuts
{
    /// <summary>The cut for <paramref name="model"/>'s samples, or null when they have one length.</summary>
    public static Func<int, float[], float[]>? For(ModelSpec? model, int seed)
    {
        if (model?.Graph?.Varying is not { } varying) return null;
        var lengths = varying.Longest - varying.Shortest + 1;
        var salt = seed.ToString(CultureInfo.InvariantCulture) + "/length";
        return (index, row) => varying.Cut(row, varying.Shortest + Math.Min(lengths - 1, (long)(StableHash.UnitInterval(salt, index.ToString(CultureInfo.InvariantCulture)) * lengths)));
    }
}
