using System.Collections.Concurrent;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Replicas;

/// <summary>
/// A replica's side of the shared rounds: the open rounds it takes updates for (found in the store the first time an
/// update names them), each folded into this replica's share, and the shares written back while their round is open.
/// A round the coordinator closed is forgotten; what it took after its last written share is counted as late.
/// </summary>
internal sealed class ReplicaRounds(AggregatorOptions options, RoundShares shares, TimeProvider time, ILogger logger) : IDisposable
{
    private readonly FederatedStrategy _strategy = StandardStrategy.Create(options.Strategy);
    private readonly ParameterLayout _layout = ParameterLayout.For(options.Model);
    private readonly ConcurrentDictionary<string, ReplicaRound> _rounds = new(StringComparer.Ordinal);

    // Round ids found not open: ids are unique per attempt and written before any task, so one that is not open now never
    // will be; updates naming it are refused without asking the store again (bounded: cleared when full).
    private readonly ConcurrentDictionary<string, byte> _notOpen = new(StringComparer.Ordinal);
    private long _storeLookups;

    /// <summary>Most round ids remembered as not open.</summary>
    public const int MaxRememberedNotOpen = 4096;

    /// <summary>Times the store was asked for a round (for tests and diagnostics).</summary>
    public long StoreLookups => Interlocked.Read(ref _storeLookups);

    /// <summary>Round ids remembered as not open now.</summary>
    public int RememberedNotOpen => _notOpen.Count;

    private string Name => options.Replicas.Name!;

    /// <summary>Offers a checked update to the open round it names (claiming the device's one contribution in the store).</summary>
    public OfferOutcome Offer(string deviceId, ModelUpdate update)
    {
        if (RoundFor(update.RoundId) is not { } round) return new OfferOutcome(false, RejectionReason.UnknownRound, $"round '{update.RoundId}' is not open");
        var offered = round.Accumulator.Offer(deviceId, update);
        return offered.Accepted ? OfferOutcome.Taken : new OfferOutcome(false, offered.Reason, offered.Detail);
    }

    /// <summary>Writes the share of every round with updates not yet written; forgets rounds the coordinator closed.</summary>
    public void WriteShares()
    {
        foreach (var (roundId, round) in _rounds)
        {
            var taken = round.Accumulator.AcceptedCount;
            if (taken == round.Written)
            {
                if (time.GetUtcNow() > round.Deadline + TimeSpan.FromMinutes(1)) _rounds.TryRemove(roundId, out _);
                continue;
            }

            try
            {
                if (shares.TryWrite(round.Accumulator.Share(Name)))
                {
                    round.Written = taken;
                }
                else
                {
                    _rounds.TryRemove(roundId, out _);
                    RememberNotOpen(roundId);
                    logger.LogShareClosed(Name, roundId, taken - round.Written);
                }
            }
            catch (System.Data.Common.DbException ex)
            {
                logger.LogShareStoreFailed(Name, roundId, ex.Message);
            }
        }
    }

    /// <summary>Records that this replica is connected to the broker now (the coordinator's <see cref="ReplicaWatch"/> reads it).</summary>
    public void Present()
    {
        try
        {
            shares.Present(Name, time.GetUtcNow());
        }
        catch (System.Data.Common.DbException ex)
        {
            logger.LogPresenceStoreFailed(Name, ex.Message);
        }
    }

    public void Dispose() => shares.Dispose();

    /// <summary>The open round an update names, as the coordinator wrote it to the store; null when there is none (or it is for another model).</summary>
    private ReplicaRound? RoundFor(string roundId)
    {
        if (_rounds.TryGetValue(roundId, out var known)) return known;
        if (_notOpen.ContainsKey(roundId)) return null;
        Interlocked.Increment(ref _storeLookups);
        if (shares.FindOpen(roundId) is not { } shared || shared.Model != options.ModelName)
        {
            RememberNotOpen(roundId);
            return null;
        }

        var accumulator = new RoundAccumulator(roundId, shared.Model, shared.BaseVersion, _layout, shared.Selected, _strategy, shared.Context)
        {
            Claim = shares.ClaimsFor(roundId),
        };
        return _rounds.GetOrAdd(roundId, _ => new ReplicaRound(accumulator, shared.Deadline));
    }

    private void RememberNotOpen(string roundId)
    {
        if (_notOpen.Count >= MaxRememberedNotOpen) _notOpen.Clear();
        _notOpen.TryAdd(roundId, 0);
    }

    /// <summary>A round this replica takes updates for, and how many of them its last written share held.</summary>
    private sealed class ReplicaRound(RoundAccumulator accumulator, DateTimeOffset deadline)
    {
        public RoundAccumulator Accumulator { get; } = accumulator;

        public DateTimeOffset Deadline { get; } = deadline;

        public int Written { get; set; }
    }
}
