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
                    logger.LogShareClosed(Name, roundId, taken - round.Written);
                }
            }
            catch (System.Data.Common.DbException ex)
            {
                logger.LogShareStoreFailed(Name, roundId, ex.Message);
            }
        }
    }

    public void Dispose() => shares.Dispose();

    /// <summary>The open round an update names, as the coordinator wrote it to the store; null when there is none (or it is for another model).</summary>
    private ReplicaRound? RoundFor(string roundId)
    {
        if (_rounds.TryGetValue(roundId, out var known)) return known;
        if (shares.FindOpen(roundId) is not { } shared || shared.Model != options.ModelName) return null;
        var accumulator = new RoundAccumulator(roundId, shared.Model, shared.BaseVersion, _layout, shared.Selected, _strategy, shared.Context)
        {
            Claim = deviceId => shares.Claim(roundId, deviceId, Guid.NewGuid().ToString("N")),
        };
        return _rounds.GetOrAdd(roundId, _ => new ReplicaRound(accumulator, shared.Deadline));
    }

    /// <summary>A round this replica takes updates for, and how many of them its last written share held.</summary>
    private sealed class ReplicaRound(RoundAccumulator accumulator, DateTimeOffset deadline)
    {
        public RoundAccumulator Accumulator { get; } = accumulator;

        public DateTimeOffset Deadline { get; } = deadline;

        public int Written { get; set; }
    }
}
