using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Fleet;

/// <summary>
/// What every received update passes before a round sees it, in whichever process takes it (the aggregator, a
/// replica): a header, sent by the device whose topic it arrived on, with a message id of sane length that this
/// device never sent before (remembered in the shared store across restarts and replicas).
/// </summary>
public static class UpdateEnvelope
{
    /// <summary>Longest message id accepted (the agent's are 32 hex digits).</summary>
    public const int MaxMessageIdLength = 128;

    public static OfferOutcome Check(string deviceId, ModelUpdate update, SeenMessages seen)
    {
        if (update.Header is null) return new OfferOutcome(false, RejectionReason.Malformed, "update without header");
        if (update.Header.SenderId != deviceId) return new OfferOutcome(false, RejectionReason.Malformed, $"sender '{update.Header.SenderId}' does not match topic");
        return FirstDelivery(deviceId, update.Header.MessageId, "update", seen);
    }

    /// <summary>Taken the first time <paramref name="deviceId"/> sends <paramref name="messageId"/>; a repeat is a duplicate, an empty or oversized id malformed.</summary>
    public static OfferOutcome FirstDelivery(string deviceId, string messageId, string what, SeenMessages seen)
    {
        if (messageId.Length is 0 or > MaxMessageIdLength) return new OfferOutcome(false, RejectionReason.Malformed, $"{what} with a message id of {messageId.Length} characters");
        return seen.TryAdd(deviceId, messageId) ? OfferOutcome.Taken : new OfferOutcome(false, RejectionReason.Duplicate, $"{what} {messageId} seen before");
    }
}
