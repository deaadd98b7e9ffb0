using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Rounds;

/// <summary>Whether a device's update or evaluation was taken, and if not why.</summary>
public readonly record struct OfferOutcome(bool Accepted, RejectionReason Reason = default, string Detail = "")
{
    public static readonly OfferOutcome Taken = new(true);
}

/// <summary>
/// What is open for devices to answer right now — a synchronous round, a FedBuff buffer or a federated evaluation —
/// and the gate that lets one of them (or an upload) run at a time. The inbox offers what arrives; the coordinators
/// open, wait and close. Offers never block and never throw.
/// </summary>
public sealed class OpenRounds(RoundTurnout turnout, TimeProvider time) : IDisposable
{
    private RoundAccumulator? _round;
    private AsyncUpdateBuffer? _buffer;
    private FederatedEvaluation? _evaluation;
    private string? _lastClosed;
    private long _bytesUp;
    private SemaphoreSlim _progress = new(0);
    private UpdateArrivals _arrivals = new();

    /// <summary>Who of a round's selected devices reported by its deadline, over the rounds so far (pace steering).</summary>
    public RoundTurnout Turnout { get; } = turnout;

    /// <summary>One round, buffer, evaluation or version upload at a time: each changes or uses the training head.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    /// <summary>When the open (or last) round's accepted updates arrived.</summary>
    public UpdateArrivals Arrivals => Volatile.Read(ref _arrivals);

    /// <summary>Bytes of updates received since the round or buffer opened.</summary>
    public long BytesUp => Interlocked.Read(ref _bytesUp);

    public void CountBytes(long bytes) => Interlocked.Add(ref _bytesUp, bytes);

    /// <summary>The bytes counted so far, and zero again.</summary>
    public long TakeBytes() => Interlocked.Exchange(ref _bytesUp, 0);

    public void Open(RoundAccumulator round)
    {
        Reset();
        Volatile.Write(ref _round, round);
    }

    public void Close(RoundAccumulator round)
    {
        Volatile.Write(ref _round, null);
        Volatile.Write(ref _lastClosed, round.RoundId);
    }

    public void Open(AsyncUpdateBuffer buffer)
    {
        Reset();
        Volatile.Write(ref _buffer, buffer);
    }

    public void CloseBuffer() => Volatile.Write(ref _buffer, null);

    public void Open(FederatedEvaluation evaluation) => Volatile.Write(ref _evaluation, evaluation);

    public void CloseEvaluation() => Volatile.Write(ref _evaluation, null);

    /// <summary>Waits until an update was accepted (or the token fires).</summary>
    public Task WaitForProgressAsync(CancellationToken cancellationToken) => Volatile.Read(ref _progress).WaitAsync(cancellationToken);

    /// <summary>Waits until an update was accepted or <paramref name="timeout"/> passed.</summary>
    public Task<bool> WaitForProgressAsync(TimeSpan timeout, CancellationToken cancellationToken) => Volatile.Read(ref _progress).WaitAsync(timeout, cancellationToken);

    /// <summary>A selected device of the open round can no longer report (revoked): the coordinator stops waiting for it.</summary>
    public void Withdraw(string deviceId)
    {
        if (Turnout.Withdraw(deviceId)) Volatile.Read(ref _progress).Release();
    }

    /// <summary>A validated, first-delivered update: into the open buffer or the round it names.</summary>
    public OfferOutcome Offer(string deviceId, ModelUpdate update)
    {
        OfferOutcome outcome;
        if (Volatile.Read(ref _buffer) is { } buffer)
        {
            var buffered = buffer.Offer(deviceId, update);
            outcome = buffered.Accepted ? OfferOutcome.Taken : new OfferOutcome(false, buffered.Reason, buffered.Detail);
        }
        else if (Volatile.Read(ref _round) is { } round && round.RoundId == update.RoundId)
        {
            var offered = round.Offer(deviceId, update);
            if (offered.Accepted)
            {
                Turnout.Reported(update.RoundId, deviceId, time.GetUtcNow());
                Arrivals.Record(time.GetUtcNow());
            }

            outcome = offered.Accepted ? OfferOutcome.Taken : new OfferOutcome(false, offered.Reason, offered.Detail);
        }
        else
        {
            var reason = update.RoundId == Volatile.Read(ref _lastClosed) ? RejectionReason.RoundClosed : RejectionReason.UnknownRound;
            if (reason == RejectionReason.RoundClosed) Turnout.Reported(update.RoundId, deviceId, time.GetUtcNow()); // late, not gone
            return new OfferOutcome(false, reason, $"round '{update.RoundId}' is not open");
        }

        if (outcome.Accepted) Volatile.Read(ref _progress).Release();
        return outcome;
    }

    /// <summary>
    /// An edge gateway's checked partial (<see cref="Edge.EdgePartialCheck"/>): merged whole into the open round it names,
    /// or refused whole — when no such round is open, it trains another base, or it names a device not selected or
    /// already counted (<see cref="RoundAccumulator.Merge"/>).
    /// </summary>
    public OfferOutcome Merge(EdgePartial partial)
    {
        var share = partial.Share;
        if (Volatile.Read(ref _round) is not { } round || round.RoundId != share.RoundId)
        {
            var reason = share.RoundId == Volatile.Read(ref _lastClosed) ? RejectionReason.RoundClosed : RejectionReason.UnknownRound;
            return new OfferOutcome(false, reason, $"round '{share.RoundId}' is not open");
        }

        if (partial.ModelName != round.ModelName || partial.BaseVersion != round.BaseVersion)
        {
            return new OfferOutcome(false, RejectionReason.WrongBaseVersion, $"partial for {partial.ModelName} v{partial.BaseVersion}, round trains {round.ModelName} v{round.BaseVersion}");
        }

        var merged = round.Merge(share);
        if (!merged.Accepted) return new OfferOutcome(false, merged.Reason, merged.Detail);
        var now = time.GetUtcNow();
        foreach (var contributor in share.Contributors)
        {
            Turnout.Reported(share.RoundId, contributor.DeviceId, now);
            Arrivals.Record(now);
        }

        Volatile.Read(ref _progress).Release(share.Contributors.Count);
        return OfferOutcome.Taken;
    }

    /// <summary>A device's evaluation: into the evaluation it names, if open.</summary>
    public OfferOutcome Offer(string deviceId, EvaluationResult result)
    {
        var evaluation = Volatile.Read(ref _evaluation);
        if (evaluation is null || evaluation.RoundId != result.RoundId) return new OfferOutcome(false, RejectionReason.UnknownRound, $"evaluation '{result.RoundId}' is not open");
        return evaluation.TryAdd(deviceId, result, out var reason) ? OfferOutcome.Taken : new OfferOutcome(false, reason, "evaluation refused");
    }

    public void Dispose() => Gate.Dispose();

    private void Reset()
    {
        Interlocked.Exchange(ref _bytesUp, 0);
        Volatile.Write(ref _progress, new SemaphoreSlim(0));
        Volatile.Write(ref _arrivals, new UpdateArrivals());
    }
}
