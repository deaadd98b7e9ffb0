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
    /// <summary>With <see cref="ImportancePrivacy"/>: the noise on every summed count, ε and δ of the release (null: no noise).</summary>
    public double? NoiseStdDev { get; init; }

    public double? Epsilon { get; init; }

    /// <summary>With privacy and partial dependence: the noise on every summed probability of the curves.</summary>
    public double? DependenceNoiseStdDev { get; init; }

    public double? Delta { get; init; }

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

    /// <summary>The fleet's importance from plausible reports, or null when no device measured any; with <paramref name="privacy"/>, clipped per device and noised.</summary>
    public static FederatedImportance? Combine(ulong version, IReadOnlyList<uint> inputs, IEnumerable<EvaluationResult> results, ImportancePrivacy? privacy = null)
    {
        var measured = results.Where(r => r.ImportanceRows > 0).ToArray();
        if (inputs.Count == 0 || measured.Length == 0) return null;
        var dp = privacy is { Enabled: true } ? privacy : null;
        var scale = measured.Select(r => dp?.Clip(r.ImportanceRows) ?? 1.0).ToArray();
        var noise = dp?.Gaussian();
        var stddev = dp?.NoiseStdDev(inputs.Count) ?? 0;
        double Noised(double sum) => noise is null ? sum : sum + stddev * noise();
        var rows = Math.Max(1, Noised(measured.Select((r, i) => r.ImportanceRows * scale[i]).Sum()));
        var correct = Noised(measured.Select((r, i) => r.ImportanceCorrect * scale[i]).Sum());
        var importance = inputs.Select((input, x) =>
        {
            var shuffled = Noised(measured.Select((r, i) => r.PermutedCorrect[x] * scale[i]).Sum());
            return new InputImportance((int)input, (correct - shuffled) / rows, double.NaN);
        }).ToArray();
        return new FederatedImportance(version, measured.Length, (long)Math.Round(rows), Math.Clamp(correct / rows, 0, 1), importance)
        {
            NoiseStdDev = dp is null ? null : stddev,
            Epsilon = dp?.Epsilon(),
            Delta = dp?.Delta,
        };
    }
}
