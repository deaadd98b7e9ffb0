using System.Buffers;
using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Fleet;

/// <summary>
/// Every message from the fleet enters here and goes to the service it is for: statuses to the device directory,
/// updates and evaluations to what is open, profiles to monitoring, foreign messages on the aggregator's retained
/// topics replaced by its own. The topic names the device (the broker's ACL ties it to the client certificate); a
/// payload naming another sender, a repeated or malformed message id, an oversized or unparsable payload is refused,
/// counted by reason and logged — it never throws into the receive loop or touches shared state. A model line's
/// inbox also reads the first model's device statuses for the one thing they say for every model on a device: its
/// connection's Last Will (a device has one connection, and one will, for all its models).
/// </summary>
public sealed class FleetInbox(
    AggregatorOptions options, DeviceDirectory devices, OpenRounds open, DriftWatch drift, FleetPublisher publisher,
    FleetStores stores, RejectionCounters rejections, TimeProvider time, CancellationToken stopping, ILogger logger)
{
    /// <summary>What each edge gateway delivered: partials merged and refused, by reason.</summary>
    public Edge.GatewayLedger Gateways { get; } = new(options.Edge);

    private readonly Topics _topics = options.Topics;

    private readonly Topics _fleet = new(options.Fleet);

    /// <summary>The topics the aggregator subscribes to (device updates through the replicas' shared subscription when they are on).</summary>
    public IReadOnlyList<string> Subscriptions =>
        [.. (options.Line is null ? Array.Empty<string>() : [_fleet.AllDevices("status")]), _topics.AllDevices("status"), options.Replicas.Enabled ? Replicas.ReplicaOptions.Shared(_topics.AllDevices("update")) : _topics.AllDevices("update"), _topics.AllDevices("eval"), _topics.AllDevices("profile"), _topics.Model, _topics.Rollout, _topics.Trust, _topics.Timestamp, .. (options.Edge.Gateways.Count > 0 ? [_topics.AllGatewayPartials] : Array.Empty<string>())];

    /// <summary>
    /// Device updates through the other of the plain and the shared subscription: what an earlier run in another mode
    /// may have left in the aggregator's persistent session on an external broker, and which would deliver every update
    /// twice (the embedded and in-memory brokers keep no shared subscription to remove).
    /// </summary>
    public IReadOnlyList<string> StaleSubscriptions => options.Replicas.Enabled
        ? [_topics.AllDevices("update")]
        : options.ExternalBroker is null ? [] : [Replicas.ReplicaOptions.Shared(_topics.AllDevices("update"))];

    public Task OnMessageAsync(string topic, ReadOnlySequence<byte> payload)
    {
        if (topic == _topics.Model || topic == _topics.Rollout || topic == _topics.Trust || topic == _topics.Timestamp) return RestoreRetainedAsync(topic, payload);
        if (_topics.TryParseGatewayPartial(topic, out var gatewayId))
        {
            OnGatewayPartial(gatewayId, payload);
            return Task.CompletedTask;
        }

        if (options.Line is not null && _fleet.TryParseDeviceTopic(topic, out var connection, out var said) && said == "status")
        {
            OnConnectionStatus(connection, payload);
            return Task.CompletedTask;
        }

        if (!_topics.TryParseDeviceTopic(topic, out var deviceId, out var kind)) return Task.CompletedTask;
        if (payload.Length == 0 && kind == "status") return Task.CompletedTask; // a retained status cleared (SilentDevices): nothing said
        if (payload.Length > ProtocolInfo.MaxPayloadBytes)
        {
            Reject(deviceId, RejectionReason.Oversized, $"{payload.Length} bytes on {kind}");
            return Task.CompletedTask;
        }

        if (stores.Security.Guard.IsRevoked(deviceId))
        {
            // Only a gateway can still carry it (the broker refuses a revoked device's own connection).
            Reject(deviceId, RejectionReason.NotAuthorized, $"{kind} of a revoked device");
            return Task.CompletedTask;
        }

        try
        {
            switch (kind)
            {
                case "status":
                    OnStatus(deviceId, DeviceStatus.Parser.ParseFrom(payload));
                    break;
                case "update":
                    open.CountBytes(payload.Length);
                    OnUpdate(deviceId, ModelUpdate.Parser.ParseFrom(payload));
                    break;
                case "eval":
                    OnEvaluation(deviceId, EvaluationResult.Parser.ParseFrom(payload));
                    break;
                case "profile" when payload.Length > options.Monitoring.MaxProfileBytes:
                    Reject(deviceId, RejectionReason.Oversized, $"profile of {payload.Length} bytes (Monitoring:MaxProfileBytes {options.Monitoring.MaxProfileBytes})");
                    break;
                case "profile":
                    OnProfile(deviceId, ProfileReport.Parser.ParseFrom(payload));
                    break;
            }
        }
        catch (InvalidProtocolBufferException ex)
        {
            Reject(deviceId, RejectionReason.Malformed, ex.Message);
        }
        catch (System.Data.Common.DbException ex)
        {
            // The store stayed unreachable through its retries: this message is lost (a round completes at quorum
            // without it), the receive loop and every other message are not.
            rejections.Add(RejectionReason.StoreUnavailable);
            logger.LogStoreUnavailable(deviceId, kind, ex.Message);
        }

        return Task.CompletedTask;
    }

    /// <summary>Something other than the aggregator's own message sits on a retained fleet topic: put ours back.</summary>
    private async Task RestoreRetainedAsync(string topic, ReadOnlySequence<byte> payload)
    {
        if (publisher.Restoration(topic, payload) is not { } ours) return;
        stores.Security.Events.Record(Security.SecurityEventKind.RetainedRestored, topic, $"{payload.Length} bytes the aggregator did not publish; its own message restored");
        await publisher.PublishRetainedAsync(topic, ours, stopping).ConfigureAwait(false);
    }

    private void OnStatus(string deviceId, DeviceStatus status)
    {
        if (status.Header is null || status.Header.ProtocolVersion != ProtocolInfo.CurrentVersion)
        {
            Reject(deviceId, RejectionReason.ProtocolVersion, "status without a v1 header");
            return;
        }

        if (status.Header.SenderId != deviceId)
        {
            Reject(deviceId, RejectionReason.Malformed, $"status from sender '{status.Header.SenderId}' on the topic of '{deviceId}'");
            return;
        }

        devices.Apply(deviceId, status, time.GetUtcNow());
    }

    /// <summary>A model line hears its devices' connection lost when their first model's Last Will says so.</summary>
    private void OnConnectionStatus(string deviceId, ReadOnlySequence<byte> payload)
    {
        if (payload.Length > ProtocolInfo.MaxPayloadBytes) return; // the first model's inbox counts it
        try
        {
            var status = DeviceStatus.Parser.ParseFrom(payload);
            if (status.State == DeviceState.Lost && status.Header?.SenderId == deviceId) devices.ConnectionLost(deviceId);
        }
        catch (InvalidProtocolBufferException)
        {
            // Refused and counted by the first model's inbox, whose topic it is.
        }
    }

    private void OnUpdate(string deviceId, ModelUpdate update)
    {
        if (Refused(deviceId, UpdateEnvelope.Check(deviceId, update, stores.Seen))) return;

        // Kept before the round may count the update and commit at once: the version's reference must hold them.
        var sketches = drift.StageTrainingProfile(deviceId, update);
        if (Refused(deviceId, open.Offer(deviceId, update))) return;
        Refused(deviceId, sketches);
    }

    /// <summary>An edge gateway's partial aggregate of its site's updates: checked, first delivery only, merged whole or refused whole.</summary>
    private void OnGatewayPartial(string gatewayId, ReadOnlySequence<byte> payload)
    {
        OfferOutcome outcome;
        EdgePartial? partial = null;
        try
        {
            partial = payload.Length > ProtocolInfo.MaxPayloadBytes ? null : EdgePartial.Parser.ParseFrom(payload);
            outcome = partial is null
                ? new OfferOutcome(false, RejectionReason.Oversized, $"{payload.Length} bytes")
                : Edge.EdgePartialCheck.Check(gatewayId, partial, options.Edge, stores.Security.Guard.IsRevoked);
            if (outcome.Accepted) outcome = UpdateEnvelope.FirstDelivery("gateways/" + gatewayId, partial!.Header.MessageId, "partial", stores.Seen);
            if (outcome.Accepted) outcome = open.Merge(partial!);
        }
        catch (InvalidProtocolBufferException ex)
        {
            outcome = new OfferOutcome(false, RejectionReason.Malformed, ex.Message);
        }
        catch (System.Data.Common.DbException ex)
        {
            outcome = new OfferOutcome(false, RejectionReason.StoreUnavailable, ex.Message);
        }

        if (outcome.Accepted)
        {
            open.CountBytes(payload.Length);
            Gateways.Merged(gatewayId, partial!.Share.Contributors.Count, payload.Length, time.GetUtcNow());
            Edge.EdgeLog.LogPartialMerged(logger, gatewayId, partial.Share.RoundId, partial.Share.Contributors.Count, payload.Length);
            return;
        }

        rejections.Add(outcome.Reason);
        Gateways.Refused(gatewayId, outcome.Reason, time.GetUtcNow());
        Edge.EdgeLog.LogPartialRefused(logger, gatewayId, outcome.Reason, outcome.Detail);
    }

    private void OnEvaluation(string deviceId, EvaluationResult result)
    {
        if (result.Header is null || result.Header.ProtocolVersion != ProtocolInfo.CurrentVersion || result.Header.SenderId != deviceId)
        {
            Reject(deviceId, RejectionReason.Malformed, "evaluation without a matching v1 header");
            return;
        }

        var offer = open.Offer(deviceId, result);
        if (Refused(deviceId, offer) && offer.Reason == RejectionReason.UnknownRound) return;
        logger.LogEvaluation(deviceId, result.Version, result.Accuracy, result.SampleCount);
    }

    /// <summary>A device's window profile: checked, then merged into its cohort's and the fleet's window.</summary>
    private void OnProfile(string deviceId, ProfileReport report)
    {
        if (report.Header is null || report.Header.SenderId != deviceId || report.Header.ProtocolVersion != ProtocolInfo.CurrentVersion)
        {
            Reject(deviceId, RejectionReason.Malformed, "profile without a matching v1 header");
            return;
        }

        if (Refused(deviceId, UpdateEnvelope.FirstDelivery(deviceId, report.Header.MessageId, "profile", stores.Seen))) return;
        Refused(deviceId, drift.AddProfile(deviceId, report));
    }

    /// <summary>Counts and logs a refused offer; true when it was refused.</summary>
    private bool Refused(string deviceId, OfferOutcome offer)
    {
        if (offer.Accepted) return false;
        Reject(deviceId, offer.Reason, offer.Detail);
        return true;
    }

    private void Reject(string deviceId, RejectionReason reason, string detail)
    {
        rejections.Add(reason);
        if (reason == RejectionReason.RoundClosed) logger.LogLateUpdate(deviceId, detail);
        else logger.LogRejected(deviceId, reason, detail);
    }
}
