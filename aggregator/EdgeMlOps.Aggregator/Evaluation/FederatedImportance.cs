using EdgeMlOps.Aggregator.Explanations;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Evaluation;

/// <summary>
/// Permutation importance measured privately on devices: each device reports, over its own labelled rows, how many it
/// got right and how many with each asked input shuffled; the sums give the fleet's importance of each input,
/// (Σ correct − Σ correct shuffled) / Σ rows, without any row leaving a device. Each device shuffles once, so there is
/// no spread over repeats (StdDev is NaN).
/// </summary>
public sealed record FederatedImportance(ulong Version, int Devices, long Rows, double Accuracy, IReadOnlyList<InputImportance> Importance)
{
    /// <summary>Partial-dependence curves measured on the devices' own rows (see <see cref="FederatedDependence"/>).</summary>
    public IReadOnlyList<DependenceCurve> Dependence { get; init; } = [];

    /// <summary>Most rows one device may claim (bounds what a report can weigh; sums cannot overflow).</summary>
    public const ulong MaxRowsPerDevice = 1UL << 32;

    /// <summary>Whether a device's importance counts are possible for the inputs asked (none at all is fine: it had no rows or budget).</summary>
    public static bool IsPlausible(EvaluationResult result, int askedInputs)
    {
        if (result.ImportanceRows == 0) return result.PermutedCorrect.Count == 0 && result.ImportanceCorrect == 0;
        return result.PermutedCorrect.Count == askedInputs
            && result.ImportanceRows <= Math.Min(result.SampleCount, MaxRowsPerDevice)
            && result.ImportanceCorrect <= result.ImportanceRows
            && result.PermutedCorrect.All(c => c <= result.ImportanceRows);
    }

    /// <summary>The fleet's importance from plausible reports, or null when no device measured any.</summary>
    public static FederatedImportance? Combine(ulong version, IReadOnlyList<uint> inputs, IEnumerable<EvaluationResult> results)
    {
        var measured = results.Where(r => r.ImportanceRows > 0).ToArray();
        if (inputs.Count == 0 || measured.Length == 0) return null;
        var rows = measured.Sum(r => (double)r.ImportanceRows);
        var correct = measured.Sum(r => (double)r.ImportanceCorrect);
        var importance = inputs.Select((input, x) =>
        {
            var shuffled = measured.Sum(r => (double)r.PermutedCorrect[x]);
            return new InputImportance((int)input, (correct - shuffled) / rows, double.NaN);
        }).ToArray();
        return new FederatedImportance(version, measured.Length, (long)rows, correct / rows, importance);
    }
}
