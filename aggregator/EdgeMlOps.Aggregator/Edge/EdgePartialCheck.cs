using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Edge;

/// <summary>
/// What the aggregator checks of a gateway's partial before the round sees it (pure): a v1 header sent by the gateway the
/// topic names, contributors each a device that gateway serves (<see cref="EdgeOptions.Gateways"/>) and not revoked, with a sample count in
/// bounds, named once, as many as the share counts, and finite sums with a positive weight.
/// </summary>
public static class EdgePartialCheck
{
    /// <summary>The most samples one device's update may claim: what a round takes from a device itself.</summary>
    public const long MaxSamplesPerUpdate = UpdateChecks.MaxSamplesPerReport;

    public static OfferOutcome Check(string gatewayId, EdgePartial partial, EdgeOptions edge, Func<string, bool>? revoked = null)
    {
        if (partial.Header is null || partial.Header.ProtocolVersion != ProtocolInfo.CurrentVersion || partial.Header.SenderId != gatewayId)
        {
            return new OfferOutcome(false, RejectionReason.Malformed, $"partial without a v1 header from '{gatewayId}'");
        }

        if (!edge.Gateways.ContainsKey(gatewayId)) return new OfferOutcome(false, RejectionReason.NotAuthorized, $"'{gatewayId}' is not a gateway of this fleet (Edge:Gateways)");
        if (partial.Share is not { } share) return new OfferOutcome(false, RejectionReason.Malformed, "partial without a share");
        if (share.Count == 0 || share.Contributors.Count != share.Count)
        {
            return new OfferOutcome(false, RejectionReason.Malformed, $"a share of {share.Count} updates names {share.Contributors.Count} devices");
        }

        var named = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in share.Contributors)
        {
            if (!edge.Serves(gatewayId, c.DeviceId)) return new OfferOutcome(false, RejectionReason.NotAuthorized, $"gateway '{gatewayId}' does not serve device '{c.DeviceId}'");
            if (revoked?.Invoke(c.DeviceId) == true) return new OfferOutcome(false, RejectionReason.NotAuthorized, $"device '{c.DeviceId}' is revoked");
            if (!named.Add(c.DeviceId)) return new OfferOutcome(false, RejectionReason.Duplicate, $"device '{c.DeviceId}' named twice");
            if (c.Samples == 0 || c.Samples > (ulong)MaxSamplesPerUpdate) return new OfferOutcome(false, RejectionReason.BadSampleCount, $"device '{c.DeviceId}' with {c.Samples} samples");
        }

        var finite = share.Sum.All(double.IsFinite) && double.IsFinite(share.TotalWeight) && double.IsFinite(share.LossSum) && double.IsFinite(share.AccuracySum) && double.IsFinite(share.MetricWeight);
        if (!finite) return new OfferOutcome(false, RejectionReason.NonFinite, "NaN or infinity in the partial");
        if (share.ExactWeight.IsEmpty && share.TotalWeight <= 0) return new OfferOutcome(false, RejectionReason.Malformed, "a partial without weight");
        return OfferOutcome.Taken;
    }
}
