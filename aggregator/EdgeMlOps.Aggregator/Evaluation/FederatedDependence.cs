using EdgeMlOps.Aggregator.Explanations;
using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Evaluation;

/// <summary>
/// Partial dependence measured privately on devices: each device sums, over its own rows, the model's probabilities with
/// one input set to each grid value; the fleet's curve is Σ sums / Σ rows. The grid comes from the version's reference
/// profile (the training-sample sketches devices sent: 5th to 95th percentile, as scikit-learn's grid), so no data is
/// needed on the aggregator.
/// </summary>
public static class FederatedDependence
{
    /// <summary>Grid points per curve.</summary>
    public const int GridPoints = 20;

    /// <summary>Probabilities of a row sum to 1: a device's sums over classes must match its rows this closely.</summary>
    private const double Tolerance = 1e-3;

    /// <summary>The requests for <paramref name="inputs"/>, placed on the reference profile's 5th–95th percentiles; null when the profile does not cover them.</summary>
    public static IReadOnlyList<DependenceRequest>? Requests(IReadOnlyList<int> inputs, WindowProfile? reference)
    {
        if (inputs.Count == 0) return [];
        if (reference is null) return null;
        var requests = new List<DependenceRequest>();
        foreach (var input in inputs)
        {
            if (input >= reference.Features.Length || reference.Features[input] is not { Count: > 0 } feature) return null;
            var q = feature.Sketch.Quantiles([0.05, 0.95]);
            var request = new DependenceRequest { Input = (uint)input };
            request.Grid.AddRange(q[1] > q[0]
                ? Enumerable.Range(0, GridPoints).Select(i => (float)(q[0] + (q[1] - q[0]) * i / (GridPoints - 1)))
                : [(float)q[0]]);
            requests.Add(request);
        }

        return requests;
    }

    /// <summary>Whether a device's sums are possible for the requests: none at all, or one per request with the right shape, within [0, rows], summing to its rows over classes.</summary>
    public static bool IsPlausible(EvaluationResult result, IReadOnlyList<DependenceRequest> requests, int classes)
    {
        if (result.Dependence.Count == 0) return true;
        if (result.Dependence.Count != requests.Count) return false;
        for (var i = 0; i < requests.Count; i++)
        {
            var sums = result.Dependence[i];
            var grid = requests[i].Grid.Count;
            if (sums.Input != requests[i].Input || sums.Rows == 0 || sums.Rows > Math.Min(result.SampleCount, FederatedImportance.MaxRowsPerDevice)) return false;
            if (sums.Sums.Count != grid * classes) return false;
            for (var g = 0; g < grid; g++)
            {
                double total = 0;
                for (var k = 0; k < classes; k++)
                {
                    var s = sums.Sums[g * classes + k];
                    if (!double.IsFinite(s) || s < -Tolerance || s > sums.Rows * (1 + Tolerance)) return false;
                    total += s;
                }

                if (Math.Abs(total - sums.Rows) > Tolerance * sums.Rows + Tolerance) return false;
            }
        }

        return true;
    }

    /// <summary>The fleet's curves from plausible answers (empty when no device measured any).</summary>
    public static IReadOnlyList<DependenceCurve> Combine(IReadOnlyList<DependenceRequest> requests, int classes, IEnumerable<EvaluationResult> results, ImportancePrivacy? privacy = null)
    {
        var measured = results.Where(r => r.Dependence.Count == requests.Count && r.Dependence.Count > 0).ToArray();
        if (measured.Length == 0) return [];
        var dp = privacy is { Enabled: true } ? privacy : null;
        var noise = dp?.Gaussian();
        var stddev = dp?.DependenceNoiseStdDev(requests.Count, requests.Max(q => q.Grid.Count)) ?? 0;
        double Noised(double sum) => noise is null ? sum : sum + stddev * noise();
        return requests.Select((request, i) =>
        {
            var scale = measured.Select(r => dp?.Clip(r.Dependence[i].Rows) ?? 1.0).ToArray();
            var rows = Math.Max(1, Noised(measured.Select((r, d) => r.Dependence[i].Rows * scale[d]).Sum()));
            var grid = request.Grid.Count;
            var average = Enumerable.Range(0, grid).Select(g => Enumerable.Range(0, classes)
                .Select(k => Math.Clamp(Noised(measured.Select((r, d) => r.Dependence[i].Sums[g * classes + k] * scale[d]).Sum()) / rows, 0, 1)).ToArray()).ToArray();
            var curve = new Shared.Explanations.PartialDependenceCurve((int)request.Input, request.Grid.ToArray(), average);
            return new DependenceCurve((int)request.Input, curve.MostAffectedClass(), curve.Grid, average);
        }).ToArray();
    }
}
