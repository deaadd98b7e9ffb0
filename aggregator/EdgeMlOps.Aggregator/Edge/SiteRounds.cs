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
/// is never sent again, and an update after it goes into a new batch (a straggler's own partial). On a gateway of gateways
/// a site gateway's partial below it is folded whole the same way (<see cref="Merge"/>), its devices counted together.
/// <para>
/// Until its round's deadline, the site's updates are kept too (up to <paramref name="revocableBytes"/> across rounds): a
/// device the fleet revokes meanwhile is taken out of the unsent batch, which is folded again from the others' updates —
/// the aggregator refuses a partial naming a revoked device, and a sum cannot be taken apart. A batch already sent that
/// holds it gets a replacement without it: the aggregator refuses the original when the revocation reached it first
/// (then the replacement counts) and the replacement otherwise (its devices are counted already), so the site's other
/// updates count exactly once either way. A batch too large to keep is dropped whole instead when unsent (its devices
/// have reported; the round completes at quorum without the site) and left as it is when sent.
/// </para>
/// </summary>
internal sealed class SiteRounds(AggregatorOptions options, string gatewayId, long revocableBytes = SiteRounds.DefaultRevocableBytes)
{
    /// <summary>Updates kept so that a revoked device can be taken out of an unsent batch: 256 MiB.</summary>
    public const long DefaultRevocableBytes = 256L << 20;

    private readonly FederatedStrategy _strategy = StandardStrategy.Create(options.Strategy);
    private readonly ParameterLayout _layout = ParameterLayout.For(options.Model);
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SiteRound> _rounds = new(StringComparer.Ordinal);
    private readonly HashSet<string> _revoked = new(StringComparer.Ordinal);
    private long _keptBytes;

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
            foreach (var old in _rounds.Where(r => now > r.Value.Deadline + Kept).Select(r => r.Key).ToArray())
            {
                Release(_rounds[old]);
                ReleaseSent(_rounds[old]);
                _rounds.Remove(old);
            }

            if (!_rounds.TryGetValue(task.RoundId, out var round))
            {
                _rounds[task.RoundId] = round = new SiteRound(task.RoundId, task.ModelName, task.BaseVersion, task.RoundNumber, task.Seed, EdgeMlOps.Shared.Protocol.WireTime.Nearest(task.DeadlineUnixMs));
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
            var admitted = Admit(update.RoundId, [deviceId], now, out var round);
            return admitted.Accepted ? Fold(round!, new FoldedPart([deviceId], update, null, update.CalculateSize())) : admitted;
        }
    }

    /// <summary>
    /// A partial from a gateway below this one (a region's site gateways; already checked as the aggregator checks one,
    /// <see cref="EdgePartialCheck"/>): folded whole into its round's batch — its devices counted as if they had reported
    /// here — or refused whole with the reason.
    /// </summary>
    public OfferOutcome Merge(EdgePartial partial, DateTimeOffset now)
    {
        var share = partial.Share;
        string[] devices = [.. share.Contributors.Select(c => c.DeviceId)];
        lock (_gate)
        {
            var admitted = Admit(share.RoundId, devices, now, out var round);
            if (!admitted.Accepted) return admitted;
            if (partial.ModelName != round!.Model || partial.BaseVersion != round.BaseVersion)
            {
                return new OfferOutcome(false, RejectionReason.WrongBaseVersion, $"a partial for {partial.ModelName} v{partial.BaseVersion}, round '{round.RoundId}' trains {round.Model} v{round.BaseVersion}");
            }

            return Fold(round, new FoldedPart(devices, null, share, share.CalculateSize()));
        }
    }

    /// <summary>Whether the fleet's verified list revoked <paramref name="deviceId"/>.</summary>
    public bool IsRevoked(string deviceId)
    {
        lock (_gate) return _revoked.Contains(deviceId);
    }

    /// <summary>Whether <paramref name="devices"/> may count in round <paramref name="roundId"/> now (the round is returned), or why not.</summary>
    private OfferOutcome Admit(string roundId, IReadOnlyList<string> devices, DateTimeOffset now, out SiteRound? round)
    {
        round = null;
        if (devices.FirstOrDefault(_revoked.Contains) is { } revoked) return new OfferOutcome(false, RejectionReason.NotAuthorized, $"device '{revoked}' is revoked by the fleet");
        if (!_rounds.TryGetValue(roundId, out var known)) return new OfferOutcome(false, RejectionReason.UnknownRound, $"round '{roundId}' is not one this site was tasked for");
        if (now > known.Deadline) return new OfferOutcome(false, RejectionReason.RoundClosed, $"round '{roundId}' passed its deadline");
        if (devices.FirstOrDefault(d => !known.Tasked.Contains(d)) is { } untasked) return new OfferOutcome(false, RejectionReason.NotSelected, $"device '{untasked}' was not tasked for round '{roundId}'");
        if (devices.FirstOrDefault(known.Counted.Contains) is { } counted) return new OfferOutcome(false, RejectionReason.Duplicate, $"device '{counted}' already contributed");
        if (devices.Distinct(StringComparer.Ordinal).Count() != devices.Count) return new OfferOutcome(false, RejectionReason.Duplicate, "a device named twice");
        round = known;
        return OfferOutcome.Taken;
    }

    /// <summary>Folds an admitted part into the round's batch (a new batch when the current one did not expect its devices).</summary>
    private OfferOutcome Fold(SiteRound round, FoldedPart part)
    {
        if (round.Batch is null || !part.Devices.All(round.BatchSelected.Contains))
        {
            // Devices tasked after the batch began: what the batch holds is due with the next flush, a new batch takes the rest.
            if (round.Batch is { AcceptedCount: > 0 } full) Send(round, full);
            Release(round);
            round.BatchSelected = [.. _site.Union(part.Devices).Except(round.Counted)];
            round.Batch = NewBatch(round);
        }

        var folded = Into(round.Batch, part);
        if (!folded.Accepted) return new OfferOutcome(false, folded.Reason, folded.Detail);
        round.Counted.UnionWith(part.Devices);
        round.InBatch.UnionWith(part.Devices);
        Keep(round, part);
        return OfferOutcome.Taken;
    }

    private static UpdateOutcome Into(RoundAccumulator batch, FoldedPart part) =>
        part.Update is { } update ? batch.Offer(part.Devices[0], update) : batch.Merge(part.Share!);

    /// <summary>
    /// The fleet revoked <paramref name="deviceIds"/> (its verified list): their later updates are refused, each unsent
    /// batch holding one of them is folded again without it (or dropped whole when its updates were not kept), and each
    /// sent batch holding one gets a replacement without it, due at once. A share from a gateway below that holds one is
    /// left out whole and its other devices may count again: that gateway sends a replacement of its own. Returns what
    /// changed, one line per batch, for the log.
    /// </summary>
    public IReadOnlyList<string> Revoked(IEnumerable<string> deviceIds)
    {
        var changes = new List<string>();
        lock (_gate)
        {
            var revoked = deviceIds.Where(_revoked.Add).ToHashSet(StringComparer.Ordinal);
            foreach (var round in _rounds.Values)
            {
                if (round.Batch is null || !round.InBatch.Overlaps(revoked)) continue;
                var taken = round.InBatch.Where(revoked.Contains).Order(StringComparer.Ordinal).ToArray();
                if (round.Kept is { } kept)
                {
                    var rest = Without(round, kept, revoked);
                    Release(round);
                    round.Batch = NewBatch(round);
                    foreach (var part in rest)
                    {
                        Into(round.Batch, part); // taken before, so taken again: the same checks on the same update
                        round.InBatch.UnionWith(part.Devices);
                        Keep(round, part);
                    }

                    changes.Add($"round '{round.RoundId}': took revoked {string.Join(", ", taken)} out of the site's unsent partial, {rest.Sum(p => p.Devices.Count)} updates folded again");
                }
                else
                {
                    var lost = round.InBatch.Count - taken.Length;
                    Release(round);
                    round.Batch = null;
                    changes.Add($"round '{round.RoundId}': dropped the site's unsent partial with revoked {string.Join(", ", taken)} ({lost} other updates in it, too many to keep for folding again)");
                }
            }

            foreach (var round in _rounds.Values) Replace(round, revoked, changes);
        }

        return changes;
    }

    /// <summary>The parts holding no revoked device; the other devices of a share left out may count again (its gateway replaces it).</summary>
    private static List<FoldedPart> Without(SiteRound round, List<FoldedPart> parts, HashSet<string> revoked)
    {
        var rest = new List<FoldedPart>();
        foreach (var part in parts)
        {
            if (!part.Devices.Any(revoked.Contains)) rest.Add(part);
            else round.Counted.ExceptWith(part.Devices.Where(d => !revoked.Contains(d)));
        }

        return rest;
    }

    /// <summary>Each sent batch of <paramref name="round"/> holding a revoked device: a replacement from the others' kept updates, due now.</summary>
    private void Replace(SiteRound round, HashSet<string> revoked, List<string> changes)
    {
        foreach (var sent in round.Sent.Where(b => b.Parts.Any(p => p.Devices.Any(revoked.Contains))).ToArray())
        {
            var taken = sent.Parts.SelectMany(p => p.Devices).Where(revoked.Contains).Order(StringComparer.Ordinal).ToArray();
            var rest = Without(round, sent.Parts, revoked);
            round.Sent.Remove(sent);
            _keptBytes -= sent.Bytes;
            if (rest.Count == 0)
            {
                changes.Add($"round '{round.RoundId}': the site's partial already sent held only revoked {string.Join(", ", taken)} (or shares with them); nothing to send instead");
                continue;
            }

            var batch = NewBatch(round, rest.SelectMany(p => p.Devices).ToHashSet(StringComparer.Ordinal));
            foreach (var part in rest) Into(batch, part); // taken before, so taken again
            var replacement = new SentBatch(rest, rest.Sum(p => p.Bytes));
            round.Sent.Add(replacement);
            _keptBytes += replacement.Bytes;
            round.Due.Add(batch.Share(gatewayId));
            changes.Add($"round '{round.RoundId}': the site's partial already sent held revoked {string.Join(", ", taken)}; a replacement with the other {rest.Sum(p => p.Devices.Count)} updates follows (the aggregator counts whichever of the two reaches it without a revoked device)");
        }
    }

    /// <summary>The batch goes up: its share is due, and its kept updates move with it (a revocation before the deadline replaces it).</summary>
    private void Send(SiteRound round, RoundAccumulator batch)
    {
        round.Due.Add(batch.Share(gatewayId));
        if (round.Kept is not { Count: > 0 } kept) return;
        round.Sent.Add(new SentBatch(kept, round.KeptBytes));
        (round.Kept, round.KeptBytes) = ([], 0); // the bytes stay counted, now with the sent batch
    }

    /// <summary>Past the deadline no partial of the round counts: the sent batches' updates are let go.</summary>
    private void ReleaseSent(SiteRound round)
    {
        _keptBytes -= round.Sent.Sum(b => b.Bytes);
        round.Sent.Clear();
    }

    /// <summary>Updates folded into partials not sent yet (the site's devices that reported to rounds still open).</summary>
    public int Unsent
    {
        get { lock (_gate) return _rounds.Values.Sum(r => r.InBatch.Count); }
    }

    /// <summary>Bytes of updates kept now for taking a revoked device out (at most the budget).</summary>
    public long KeptBytes
    {
        get { lock (_gate) return _keptBytes; }
    }

    private RoundAccumulator NewBatch(SiteRound round) => NewBatch(round, round.BatchSelected);

    private RoundAccumulator NewBatch(SiteRound round, IReadOnlyCollection<string> selected)
    {
        var n = selected.Count;
        return new RoundAccumulator(round.RoundId, round.Model, round.BaseVersion, _layout, selected, _strategy, new RoundContext(round.Number, n, n, n, round.Seed));
    }

    /// <summary>Keeps a part folded into <paramref name="round"/>'s batch while the budget allows; past it, the batch keeps none.</summary>
    private void Keep(SiteRound round, FoldedPart part)
    {
        if (round.Kept is null) return;
        long size = part.Bytes;
        if (_keptBytes + size > revocableBytes)
        {
            _keptBytes -= round.KeptBytes;
            (round.Kept, round.KeptBytes) = (null, 0);
            return;
        }

        round.Kept.Add(part);
        round.KeptBytes += size;
        _keptBytes += size;
    }

    /// <summary>The batch is gone (sent or dropped): its kept updates are let go, and the next batch keeps again.</summary>
    private void Release(SiteRound round)
    {
        _keptBytes -= round.KeptBytes;
        (round.Kept, round.KeptBytes) = ([], 0);
        round.InBatch.Clear();
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
                // A tasked device the fleet revoked since will not be heard from: the others need not wait for it.
                var complete = round.Tasked.All(d => round.Counted.Contains(d) || _revoked.Contains(d)) && now - round.LastTasked >= edge.Settle;
                if (round.Batch is { AcceptedCount: > 0 } batch && (complete || now >= round.Deadline - edge.FlushBefore))
                {
                    Send(round, batch);
                    round.Batch = null;
                    Release(round);
                }

                if (now > round.Deadline) ReleaseSent(round);

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

        /// <summary>The devices folded into the current batch.</summary>
        public HashSet<string> InBatch { get; } = new(StringComparer.Ordinal);

        /// <summary>What was folded into it, while the budget allows (null: not kept — the batch cannot be folded again).</summary>
        public List<FoldedPart>? Kept { get; set; } = [];

        public long KeptBytes { get; set; }

        /// <summary>Batches sent whose updates are kept until the deadline (a revocation replaces them).</summary>
        public List<SentBatch> Sent { get; } = [];
    }

    /// <summary>What a batch was folded from: one device's update, or a gateway below's share (its devices together), and its bytes.</summary>
    private sealed record FoldedPart(IReadOnlyList<string> Devices, ModelUpdate? Update, PartialAggregate? Share, long Bytes);

    private sealed record SentBatch(List<FoldedPart> Parts, long Bytes);
}
