using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Edge;

/// <summary>
/// The rounds a gateway's site takes part in: each verified train task names one of the site's devices; each update
/// from a tasked device is checked and folded (the round's own checks and weights, <see cref="RoundAccumulator"/>) into
/// the round's current batch; a batch is due — one partial upstream — when every tasked device has reported (and the
/// round's tasks have settled) or the round's deadline is less than <see cref="EdgeOptions.FlushBefore"/> away. A device counts once per round: a batch sent
/// is never sent again, and an update after it goes into a new batch (a straggler's own partial).
/// </summary>
internal sealed class SiteRounds(AggregatorOptions options, string gatewayId)
{
    private readonly FederatedStrategy _strategy = StandardStrategy.Create(options.Strategy);
    private readonly ParameterLayout _layout = ParameterLayout.For(options.Model);
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SiteRound> _rounds = new(StringComparer.Ordinal);

    // Every device of the site heard from: a batch admits them all (the tasked check is the round's own), so tasks that
    // trickle in while the first updates arrive do not split a round into several partials.
    private readonly HashSet<string> _site = new(StringComparer.Ordinal);

    /// <summary>A device of the site was heard from (its status): a batch begun later admits it.</summary>
    public void Known(string deviceId)
    {
        lock (_gate) _site.Add(deviceId);
    }

    /// <summary>Rounds kept past their deadline (late updates are refused as closed until then).</summary>
    public static readonly TimeSpan Kept = TimeSpan.FromMinutes(5);

    /// <summary>Rounds the gateway knows now.</summary>
    public int Count
    {
        get { lock (_gate) return _rounds.Count; }
    }

    /// <summary>A verified train task for one of the site's devices: the round is known, the device expected.</summary>
    public void Tasked(RoundTask task, DateTimeOffset now)
    {
        lock (_gate)
        {
            foreach (var old in _rounds.Where(r => now > r.Value.Deadline + Kept).Select(r => r.Key).ToArray()) _rounds.Remove(old);
            if (!_rounds.TryGetValue(task.RoundId, out var round))
            {
                _rounds[task.RoundId] = round = new SiteRound(task.RoundId, task.ModelName, task.BaseVersion, task.RoundNumber, task.Seed, DateTimeOffset.FromUnixTimeMilliseconds(task.DeadlineUnixMs));
            }

            round.Tasked.Add(task.DeviceId);
            round.LastTasked = now;
            _site.Add(task.DeviceId);
        }
    }

    /// <summary>A device's update (its envelope already checked): folded into its round's batch, or refused with the reason.</summary>
    public OfferOutcome Offer(string deviceId, ModelUpdate update, DateTimeOffset now)
    {
        lock (_gate)
        {
            if (!_rounds.TryGetValue(update.RoundId, out var round)) return new OfferOutcome(false, RejectionReason.UnknownRound, $"round '{update.RoundId}' is not one this site was tasked for");
            if (now > round.Deadline) return new OfferOutcome(false, RejectionReason.RoundClosed, $"round '{update.RoundId}' passed its deadline");
            if (!round.Tasked.Contains(deviceId)) return new OfferOutcome(false, RejectionReason.NotSelected, $"device '{deviceId}' was not tasked for round '{update.RoundId}'");
            if (round.Counted.Contains(deviceId)) return new OfferOutcome(false, RejectionReason.Duplicate, $"device '{deviceId}' already contributed");
            if (round.Batch is null || !round.BatchSelected.Contains(deviceId))
            {
                // A device tasked after the batch began: what the batch holds is due with the next flush, a new batch takes the rest.
                if (round.Batch is { AcceptedCount: > 0 } full) round.Due.Add(full.Share(gatewayId));
                round.BatchSelected = [.. _site.Except(round.Counted)];
                var n = round.BatchSelected.Count;
                round.Batch = new RoundAccumulator(round.RoundId, round.Model, round.BaseVersion, _layout, round.BatchSelected, _strategy, new RoundContext(round.Number, n, n, n, round.Seed));
            }

            var offered = round.Batch.Offer(deviceId, update);
            if (!offered.Accepted) return new OfferOutcome(false, offered.Reason, offered.Detail);
            round.Counted.Add(deviceId);
            return OfferOutcome.Taken;
        }
    }

    /// <summary>
    /// The partials due now, each with its round's model and base version; what is taken is never offered again. A round
    /// whose tasked devices have all reported is due once no task for it arrived for <see cref="EdgeOptions.Settle"/> (its
    /// tasks reach the gateway one by one while the first devices already answer); any round with updates is due
    /// <see cref="EdgeOptions.FlushBefore"/> its deadline.
    /// </summary>
    public IReadOnlyList<EdgePartial> TakeDue(DateTimeOffset now, EdgeOptions edge)
    {
        var due = new List<EdgePartial>();
        lock (_gate)
        {
            foreach (var round in _rounds.Values)
            {
                var complete = round.Counted.Count == round.Tasked.Count && now - round.LastTasked >= edge.Settle;
                if (round.Batch is { AcceptedCount: > 0 } batch && (complete || now >= round.Deadline - edge.FlushBefore))
                {
                    round.Due.Add(batch.Share(gatewayId));
                    round.Batch = null;
                }

                due.AddRange(round.Due.Select(share => new EdgePartial { ModelName = round.Model, BaseVersion = round.BaseVersion, Share = share }));
                round.Due.Clear();
            }
        }

        return due;
    }

    private sealed class SiteRound(string roundId, string model, ulong baseVersion, ulong number, ulong seed, DateTimeOffset deadline)
    {
        public string RoundId { get; } = roundId;

        public string Model { get; } = model;

        public ulong BaseVersion { get; } = baseVersion;

        public long Number { get; } = (long)number;

        public ulong Seed { get; } = seed;

        public DateTimeOffset Deadline { get; } = deadline;

        public DateTimeOffset LastTasked { get; set; }

        public HashSet<string> Tasked { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Counted { get; } = new(StringComparer.Ordinal);

        public RoundAccumulator? Batch { get; set; }

        public HashSet<string> BatchSelected { get; set; } = new(StringComparer.Ordinal);

        public List<PartialAggregate> Due { get; } = [];
    }
}
