using System.Globalization;
using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Simulator.Data;

namespace EdgeMlOps.Simulator;

/// <summary>
/// For a model that takes samples of several lengths (<c>--axis-lengths frames=6..8</c>): each training sample cut to a
/// length of its own, drawn uniformly over the range from the run's seed and the sample's index — the same cut on every
/// run and in every worker process — as devices that heard clips of different lengths would hold them. Held-out
/// samples are cut the same way (from another draw), and the aggregator scores each length on its own.
/// </summary>
public static class SampleCuts
{
    /// <summary>The cut for <paramref name="model"/>'s training samples, or null when they have one length.</summary>
    public static Func<int, float[], float[]>? For(ModelSpec? model, int seed) => For(model, seed, "/length");

    /// <summary>
    /// The aggregator's evaluator of the held-out set <paramref name="test"/>: its samples cut as the training samples
    /// are (another draw) and each length scored on its own (<see cref="LengthsEvaluator"/>) when
    /// <paramref name="model"/>'s samples vary; else the whole set as it is.
    /// </summary>
    public static IModelEvaluator HeldOut(ModelSpec? model, int seed, Dataset test)
    {
        var cut = For(model, seed, "/held-out") ?? ((_, row) => row);
        var rows = Enumerable.Range(0, test.Count).Select(i => cut(i, test.Row(i))).ToArray();
        return LengthsEvaluator.Of([.. rows.Select(r => r.Length)], test.InputDim, (indices, _) => test.Targets is { } targets
            ? new HeldOutTargetsEvaluator([.. indices.SelectMany(i => rows[i])], [.. indices.SelectMany(test.TargetRow)], test.TargetWidth) // "accuracy" is R² or label accuracy
            : new HeldOutEvaluator([.. indices.SelectMany(i => rows[i])], [.. indices.Select(i => test.Labels[i])]));
    }

    private static Func<int, float[], float[]>? For(ModelSpec? model, int seed, string draw)
    {
        if (model?.Graph?.Varying is not { } varying) return null;
        var lengths = varying.Longest - varying.Shortest + 1;
        var salt = seed.ToString(CultureInfo.InvariantCulture) + draw;
        return (index, row) => varying.Cut(row, varying.Shortest + Math.Min(lengths - 1, (long)(StableHash.UnitInterval(salt, index.ToString(CultureInfo.InvariantCulture)) * lengths)));
    }
}
