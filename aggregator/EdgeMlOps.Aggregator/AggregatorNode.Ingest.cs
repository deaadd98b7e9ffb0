using System.Buffers;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator;

public sealed partial class AggregatorNode
{
    /// <summary>Longest message id accepted (the agent's are 32 hex digits).</summary>
    private const int MaxMessageIdLength = 128;
    private RoundAccumulator? _openRound;
    private string? _lastClosedRoundId;
    private long _roundBytesUp;
    private SemaphoreSlim _roundProgress = new(0);

    /// <summary>
    /// Every device message enters here. Bad input is counted by reason and logged, and never
    /// throws into the MQTT receive loop or touches shared state.
    /// </summary>
    private Task OnMessageAsync(string topic, ReadOnlySequence<byte> payload)
    {
        if (topic == _topics.Model || topic == _topics.Rollout || topic == _topics.Trust) return RestoreRetainedAsync(topic, payload);
        if (!_topics.TryParseDeviceTopic(topic, out var deviceId, out var kind)) return Task.CompletedTask;
        if (payload.Length > ProtocolInfo.MaxPayloadBytes)
        {
            Reject(deviceId, RejectionReason.Oversized, $"{payload.Length} bytes on {kind}");
            return Task.CompletedTask;
        }

        try
        {
            switch (kind)
            {
                case "status":
                    var status = DeviceStatus.Parser.ParseFrom(payload);
                    if (status.Header is null || status.Header.ProtocolVersion != ProtocolInfo.CurrentVersion)
                    {
                        Reject(deviceId, RejectionReason.ProtocolVersion, "status without a v1 header");
                        break;
                    }

                    if (status.Header.SenderId != deviceId)
                    {
                        Reject(deviceId, RejectionReason.Malformed, $"status from sender '{status.Header.SenderId}' on the topic of '{deviceId}'");
                        break;
                    }

                    Devices.Apply(deviceId, status, _time.GetUtcNow());
                    break;
                case "update":
                    Interlocked.Add(ref _roundBytesUp, payload.Length);
                    OnUpdate(deviceId, ModelUpdate.Parser.ParseFrom(payload));
                    break;
                case "eval":
                    OnEvaluation(deviceId, EvaluationResult.Parser.ParseFrom(payload));
                    break;
                case "profile" when payload.Length > _options.Monitoring.MaxProfileBytes:
                    Reject(deviceId, RejectionReason.Oversized, $"profile of {payload.Length} bytes (Monitoring:MaxProfileBytes {_options.Monitoring.MaxProfileBytes})");
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

        return Task.CompletedTask;
    }

    /// <summary>Something other than the aggregator's own message sits on a retained fleet topic: put ours back.</summary>
    private async Task RestoreRetainedAsync(string topic, ReadOnlySequence<byte> payload)
    {
        if (_publisher.Restoration(topic, payload) is not { } ours) return;
        Security.Events.Record(EdgeMlOps.Aggregator.Security.SecurityEventKind.RetainedRestored, topic, $"{payload.Length} bytes the aggregator did not publish; its own message restored");
        await _publisher.PublishRetainedAsync(topic, ours, _stopping.Token).ConfigureAwait(false);
    }

    private void OnUpdate(string deviceId, ModelUpdate update)
    {
        if (update.Header is null)
        {
            Reject(deviceId, RejectionReason.Malformed, "update without header");
            return;
        }

        if (update.Header.SenderId != deviceId)
        {
            Reject(deviceId, RejectionReason.Malformed, $"sender '{update.Header.SenderId}' does not match topic");
            return;
        }

        if (!IsFirstDelivery(deviceId, update.Header.MessageId, "update")) return;

        if (Volatile.Read(ref _openBuffer) is { } buffer)
        {
            var buffered = buffer.Offer(deviceId, update);
            if (buffered.Accepted)
            {
                OnTrainingProfile(deviceId, update);
                _roundProgress.Release();
            }
            else
            {
                Reject(deviceId, buffered.Reason, buffered.Detail);
            }

            return;
        }

        var round = Volatile.Read(ref _openRound);
        if (round is null || round.RoundId != update.RoundId)
        {
            var reason = update.RoundId == Volatile.Read(ref _lastClosedRoundId) ? RejectionReason.RoundClosed : RejectionReason.UnknownRound;
            Reject(deviceId, reason, $"round '{update.RoundId}' is not open");
            return;
        }

        var outcome = round.Offer(deviceId, update);
        if (!outcome.Accepted)
        {
            Reject(deviceId, outcome.Reason, outcome.Detail);
            return;
        }

        OnTrainingProfile(deviceId, update);
        _roundProgress.Release();
    }

    /// <summary>
    /// True the first time this device sends <paramref name="messageId"/> (remembered across restarts); a repeat is
    /// refused as a duplicate, an empty or oversized id as malformed.
    /// </summary>
    private bool IsFirstDelivery(string deviceId, string messageId, string what)
    {
        if (messageId.Length is 0 or > MaxMessageIdLength)
        {
            Reject(deviceId, RejectionReason.Malformed, $"{what} with a message id of {messageId.Length} characters");
            return false;
        }

        if (Seen.TryAdd(deviceId, messageId)) return true;
        Reject(deviceId, RejectionReason.Duplicate, $"{what} {messageId} seen before");
        return false;
    }

    private void Reject(string deviceId, RejectionReason reason, string detail)
    {
        Rejections.Add(reason);
        LogRejected(deviceId, reason, detail);
    }

}
