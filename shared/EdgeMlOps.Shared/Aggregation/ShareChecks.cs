using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Shared.Aggregation;

/// <summary>
/// What a round checks of a share another process folded — an edge gateway's partial, an aggregator replica's — before it
/// adds it (pure): a share holds no more than its devices could have sent the round themselves. Each contributor claims
/// 1 to <see cref="UpdateChecks.MaxSamplesPerReport"/> samples; the share weighs what the round's rule gives those samples
/// (<see cref="FederatedStrategy.WeightOf"/>: a gateway cannot weigh its devices more or less than the round would);
/// its sum has one value per parameter and is no longer than updates each within <c>Strategy:MaxUpdateNorm</c> add up
/// to (the weight times the bound). Without a bound, no value passes the weight times the largest float, so the mean
/// stays a float — in exact mode, what its contributions may add (<see cref="StreamingWeightedSum.ExactContributionLimit"/>).
/// The devices' own loss and accuracy are weighted sums of what one device may state
/// (<see cref="UpdateChecks.MaxMetricMagnitude"/>), over no more than the share's weight.
/// </summary>
public static class ShareChecks
{
    /// <summary>How far an honest share's norm may pass the bound: its sum was staged in fp32 (about 1e-7 relative per update).</summary>
    private const double NormSlack = 1e-4;

    /// <summary>How far an honest share's weight may differ from its contributors': none for whole-number weights, a rounding for others.</summary>
    private const double WeightSlack = 1e-9;

    public static UpdateOutcome? Check(PartialAggregate share, int length, FederatedStrategy strategy)
    {
        double weight = 0;
        foreach (var c in share.Contributors)
        {
            if (c.Samples == 0 || c.Samples > UpdateChecks.MaxSamplesPerReport)
            {
                return UpdateOutcome.Reject(RejectionReason.BadSampleCount, $"device '{c.DeviceId}' with {c.Samples} samples");
            }

            weight += strategy.WeightOf(c.Samples);
        }

        var exact = !share.ExactSum.IsEmpty || !share.ExactWeight.IsEmpty;
        var values = exact ? share.ExactSum.Length / (double)Int128Bytes.Size : share.Sum.Count;
        if (values != length || (exact && share.ExactWeight.Length != Int128Bytes.Size))
        {
            return UpdateOutcome.Reject(RejectionReason.Malformed, $"a share of {values} values does not fit {length} parameters");
        }

        var stated = exact ? StreamingWeightedSum.FromFixed(Int128Bytes.Read(share.ExactWeight.Span, 0)) : share.TotalWeight;
        if (!(Math.Abs(stated - weight) <= weight * WeightSlack))
        {
            return UpdateOutcome.Reject(RejectionReason.Malformed, $"a share weighing {stated} where its devices' samples weigh {weight}");
        }

        if (Problem(share, exact, weight, strategy.MaxUpdateNorm) is { } problem) return UpdateOutcome.Reject(RejectionReason.NormTooLarge, problem);
        var metrics = share.MetricWeight >= 0 && share.MetricWeight <= weight * (1 + WeightSlack)
            && Math.Abs(share.LossSum) <= share.MetricWeight * UpdateChecks.MaxMetricMagnitude
            && Math.Abs(share.AccuracySum) <= share.MetricWeight * UpdateChecks.MaxMetricMagnitude;
        return metrics ? null : UpdateOutcome.Reject(RejectionReason.Malformed,
            $"devices' loss {share.LossSum} and accuracy {share.AccuracySum} summed over a weight of {share.MetricWeight}, in a share weighing {weight}");
    }

    /// <summary>Why the share's sum is more than its devices' updates could add up to, or null.</summary>
    private static string? Problem(PartialAggregate share, bool exact, double weight, double? maxNorm)
    {
        var length = exact ? share.ExactSum.Length / Int128Bytes.Size : share.Sum.Count;
        // Each contribution adds at most its weight times the largest float, in exact mode at most the exact limit.
        var largest = exact ? share.Contributors.Count * StreamingWeightedSum.ExactContributionLimit : weight * float.MaxValue;
        double squares = 0;
        for (var i = 0; i < length; i++)
        {
            var v = exact ? StreamingWeightedSum.FromFixed(Int128Bytes.Read(share.ExactSum.Span, i)) : share.Sum[i];
            if (!(Math.Abs(v) <= largest)) return $"a value of {v} in a share weighing {weight}";
            squares += v * v;
        }

        var norm = Math.Sqrt(squares);
        return maxNorm is { } bound && !(norm <= weight * bound * (1 + NormSlack))
            ? $"a share's sum of norm {norm:G6}, beyond the {weight * bound:G6} its devices' weight allows at Strategy:MaxUpdateNorm {bound}"
            : null;
    }
}
