using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Tensors;

namespace EdgeMlOps.Shared.Aggregation;

/// <summary>What the accumulator made of one offered update.</summary>
public readonly record struct UpdateOutcome(bool Accepted, RejectionReason Reason, string Detail)
{
    public static UpdateOutcome Accept() => new(true, default, string.Empty);

    public static UpdateOutcome Reject(RejectionReason reason, string detail) => new(false, reason, detail);
}

/// <summary>The result of a closed round (or FedBuff buffer): the combined delta and who made it.</summary>
public sealed record RoundAggregate(
    float[] MeanDelta,
    int Contributors,
    long Samples,
    double MeanLocalLoss,
    double MeanLocalAccuracy,
    IReadOnlyList<string> ContributorIds,
    StrategyNotes Notes)
{
    /// <summary>Samples each contributor trained on, as it reported (per device; the run record's data fingerprint).</summary>
    public IReadOnlyDictionary<string, long> ContributorSamples { get; init; } = new Dictionary<string, long>();
}

/// <summary>
/// One round's intake: validates each update against the round (id, model, base version,
/// selection, shape, finiteness, norm, duplicates), lets the strategy weigh it, and hands it to
/// the strategy's combiner at once. With a mean the memory is O(parameters). Thread-safe:
/// updates may arrive concurrently.
/// </summary>
public sealed class RoundAccumulator
{
    private readonly object _gate = new();
    private readonly FederatedStrategy _strategy;
    private readonly RoundContext _context;
    private readonly IUpdateCombiner _combiner;
    private readonly HashSet<string> _selected;
    private readonly HashSet<string> _contributed = new(StringComparer.Ordinal);
    private readonly LocalMetricsMean _metrics = new();
    private readonly long _maxSamplesPerUpdate;
    private bool _closed;

    public RoundAccumulator(string roundId, string modelName, ulong baseVersion, ParameterLayout layout, IEnumerable<string> selected, long maxSamplesPerUpdate = UpdateChecks.MaxSamplesPerReport)
        : this(roundId, modelName, baseVersion, layout, selected, new StandardStrategy(new StrategyOptions()), null, maxSamplesPerUpdate)
    {
    }

    public RoundAccumulator(string roundId, string modelName, ulong baseVersion, ParameterLayout layout, IEnumerable<string> selected,
        FederatedStrategy strategy, RoundContext? context, long maxSamplesPerUpdate = UpdateChecks.MaxSamplesPerReport)
    {
        RoundId = roundId;
        ModelName = modelName;
        BaseVersion = baseVersion;
        Layout = layout;
        _selected = new HashSet<string>(selected, StringComparer.Ordinal);
        _strategy = strategy;
        _context = context ?? new RoundContext(0, _selected.Count, _selected.Count, _selected.Count, 0);
        _combiner = strategy.CreateCombiner(_context, layout);
        _maxSamplesPerUpdate = maxSamplesPerUpdate;
    }

    public string RoundId { get; }

    public string ModelName { get; }

    public ulong BaseVersion { get; }

    public ParameterLayout Layout { get; }

    public int SelectedCount => _selected.Count;

    /// <summary>
    /// Claims a device's one contribution to this round in a store other processes share (aggregator replicas): whether
    /// this process holds it, another replica does, or the round is already closed there. Null: this process alone decides.
    /// </summary>
    public Func<string, ClaimOutcome>? Claim { get; init; }

    /// <summary>Whether the round's rule is a sum that shares from other processes can add to (<see cref="IPartialCombiner"/>).</summary>
    public bool CanShare => _combiner is IPartialCombiner;

    public int AcceptedCount
    {
        get { lock (_gate) return _combiner.Count; }
    }

    /// <summary>Validates and, if valid, folds in <paramref name="update"/> from <paramref name="deviceId"/>.</summary>
    public UpdateOutcome Offer(string deviceId, ModelUpdate update)
    {
        if (update.RoundId != RoundId) return UpdateOutcome.Reject(RejectionReason.UnknownRound, $"round '{update.RoundId}' is not open");
        if (update.ModelName != ModelName || update.BaseVersion != BaseVersion)
        {
            return UpdateOutcome.Reject(RejectionReason.WrongBaseVersion, $"update is for {update.ModelName} v{update.BaseVersion}, round trains {ModelName} v{BaseVersion}");
        }

        if (!_selected.Contains(deviceId)) return UpdateOutcome.Reject(RejectionReason.NotSelected, $"device '{deviceId}' was not selected");

        // Validate outside the lock: it reads only the update.
        if (UpdateChecks.Check(Layout, update, _maxSamplesPerUpdate, _strategy.MaxUpdateNorm, out var norm) is { } invalid) return invalid;
        if (UpdateChecks.ExactRange(_combiner, _strategy, update, norm) is { } beyond) return beyond;

        if (Volatile.Read(ref _closed)) return UpdateOutcome.Reject(RejectionReason.RoundClosed, "round already closed");
        switch (Claim?.Invoke(deviceId))
        {
            case ClaimOutcome.ClaimedElsewhere: return UpdateOutcome.Reject(RejectionReason.Duplicate, $"device '{deviceId}' already contributed to this round (through another replica)");
            case ClaimOutcome.RoundClosed: return UpdateOutcome.Reject(RejectionReason.RoundClosed, "round already closed (in the store the replicas share)");
        }

        lock (_gate)
        {
            if (_closed) return UpdateOutcome.Reject(RejectionReason.RoundClosed, "round already closed");
            if (!_contributed.Add(deviceId)) return UpdateOutcome.Reject(RejectionReason.Duplicate, $"device '{deviceId}' already contributed");
            var contribution = _strategy.Weigh(deviceId, update, norm, staleness: 0);
            _combiner.Add(contribution, Layout, update.Delta);
            _metrics.Add(deviceId, update, contribution.Weight);
        }

        return UpdateOutcome.Accept();
    }

    /// <summary>What this process accepted so far, as a share for the round's coordinator to merge (<see cref="CanShare"/> rules only).</summary>
    public PartialAggregate Share(string replica)
    {
        var share = new PartialAggregate { RoundId = RoundId, Replica = replica };
        lock (_gate)
        {
            ((IPartialCombiner)_combiner).ExportTo(share);
            _metrics.ExportTo(share);
        }

        return share;
    }

    /// <summary>
    /// Adds another process's share of this round. Refused whole when it names another round, does not fit, or names a
    /// device already counted here — a share is never half merged and no device counts twice.
    /// </summary>
    public UpdateOutcome Merge(PartialAggregate share)
    {
        if (share.RoundId != RoundId) return UpdateOutcome.Reject(RejectionReason.UnknownRound, $"a share of round '{share.RoundId}'");
        if (_combiner is not IPartialCombiner combiner) return UpdateOutcome.Reject(RejectionReason.Malformed, "this round's rule needs every update in one process");
        if (share.Contributors.Count != share.Count) return UpdateOutcome.Reject(RejectionReason.Malformed, $"a share of {share.Count} updates names {share.Contributors.Count} devices");
        lock (_gate)
        {
            if (_closed) return UpdateOutcome.Reject(RejectionReason.RoundClosed, "round already closed");
            var ids = share.Contributors.Select(c => c.DeviceId).ToArray();
            if (ids.Any(id => _contributed.Contains(id) || !_selected.Contains(id)) || ids.Distinct(StringComparer.Ordinal).Count() != ids.Length)
            {
                return UpdateOutcome.Reject(RejectionReason.Duplicate, $"replica '{share.Replica}' names a device counted twice or not selected");
            }

            if (ShareChecks.Check(share, Layout.TotalLength, _strategy) is { } invalid) return invalid;

            try
            {
                combiner.Merge(share);
            }
            catch (ArgumentException ex)
            {
                return UpdateOutcome.Reject(RejectionReason.Malformed, ex.Message);
            }

            _contributed.UnionWith(ids);
            _metrics.Merge(share);
        }

        return UpdateOutcome.Accept();
    }

    /// <summary>
    /// Closes the round to further updates and returns the aggregate. With fewer than
    /// <paramref name="quorum"/> updates nothing is combined (no DP noise is drawn and no privacy
    /// spent, as nothing is released) and the delta is zero.
    /// </summary>
    public RoundAggregate Close(int quorum = 1)
    {
        lock (_gate)
        {
            _closed = true;
            var notes = new StrategyNotes();
            var delta = _combiner.Count >= Math.Max(1, quorum) ? _strategy.Combine(_context, _combiner, notes) : new float[Layout.TotalLength];
            return _metrics.ToAggregate(delta, notes);
        }
    }
}

/// <summary>Checks every round and buffer share: protocol version, sample count, tensors, norm.</summary>
public static class UpdateChecks
{
    /// <summary>The most samples one device's update or evaluation answer may claim: its weight is bounded, and sums of its counts stay far inside a long.</summary>
    public const long MaxSamplesPerReport = 1_000_000;

    /// <summary>
    /// The largest loss or accuracy a device's own training metrics may state and count in the round's mean: far beyond
    /// any real loss, and small enough that weighted sums over any fleet stay finite.
    /// </summary>
    public const double MaxMetricMagnitude = 1e100;

    /// <summary>
    /// Why an update of <paramref name="norm"/> would pass what <paramref name="combiner"/>'s exact sums hold at its weight
    /// (<see cref="StreamingWeightedSum.ExactContributionLimit"/>; no value is larger than the norm), or null: refused,
    /// where adding it would wrap the 128-bit sums into a mean of another sign.
    /// </summary>
    public static UpdateOutcome? ExactRange(IUpdateCombiner combiner, FederatedStrategy strategy, ModelUpdate update, double norm) =>
        combiner is IPartialCombiner { IsExact: true } && !(norm * strategy.WeightOf(update.SampleCount) <= StreamingWeightedSum.ExactContributionLimit)
            ? UpdateOutcome.Reject(RejectionReason.NormTooLarge, FormattableString.Invariant(
                $"update norm {norm:G4} at a weight of {strategy.WeightOf(update.SampleCount):G4} is beyond what exact sums hold ({StreamingWeightedSum.ExactContributionLimit:G4})"))
            : null;

    public static UpdateOutcome? Check(ParameterLayout layout, ModelUpdate update, long maxSamplesPerUpdate, double? maxNorm, out double norm)
    {
        norm = 0;
        if (update.Header is null || update.Header.ProtocolVersion != ProtocolInfo.CurrentVersion)
        {
            return UpdateOutcome.Reject(RejectionReason.ProtocolVersion, $"protocol version {update.Header?.ProtocolVersion.ToString() ?? "missing"}");
        }

        if (update.SampleCount == 0 || update.SampleCount > (ulong)maxSamplesPerUpdate)
        {
            return UpdateOutcome.Reject(RejectionReason.BadSampleCount, $"sample count {update.SampleCount}");
        }

        if (TensorCodec.Validate(layout, update.Delta, out var squaredNorm) is { } invalid)
        {
            return UpdateOutcome.Reject(invalid.Reason, invalid.Detail);
        }

        norm = Math.Sqrt(squaredNorm);
        if (maxNorm is { } max && norm > max)
        {
            return UpdateOutcome.Reject(RejectionReason.NormTooLarge, FormattableString.Invariant($"update norm {norm:G4} exceeds {max:G4}"));
        }

        return null;
    }
}

/// <summary>Weighted mean of the devices' own training loss and accuracy, and who contributed.</summary>
internal sealed class LocalMetricsMean
{
    private readonly List<string> _ids = new();
    private readonly Dictionary<string, long> _samplesById = new(StringComparer.Ordinal);
    private double _loss;
    private double _accuracy;
    private double _weight;
    private long _samples;

    public void ExportTo(PartialAggregate share)
    {
        foreach (var id in _ids) share.Contributors.Add(new PartialContributor { DeviceId = id, Samples = (ulong)_samplesById[id] });
        (share.LossSum, share.AccuracySum, share.MetricWeight) = (_loss, _accuracy, _weight);
    }

    public void Merge(PartialAggregate share)
    {
        foreach (var c in share.Contributors)
        {
            _ids.Add(c.DeviceId);
            _samples += (long)c.Samples;
            _samplesById[c.DeviceId] = (long)c.Samples;
        }

        _loss += share.LossSum;
        _accuracy += share.AccuracySum;
        _weight += share.MetricWeight;
    }

    public void Add(string deviceId, ModelUpdate update, double weight)
    {
        _ids.Add(deviceId);
        _samples += (long)update.SampleCount;
        _samplesById[deviceId] = (long)update.SampleCount;
        if (update.Metrics is { } m && Math.Abs(m.Loss) <= UpdateChecks.MaxMetricMagnitude && Math.Abs(m.Accuracy) <= UpdateChecks.MaxMetricMagnitude)
        {
            _loss += m.Loss * weight;
            _accuracy += m.Accuracy * weight;
            _weight += weight;
        }
    }

    public RoundAggregate ToAggregate(float[] delta, StrategyNotes notes) => new(
        delta,
        _ids.Count,
        _samples,
        _weight > 0 ? _loss / _weight : double.NaN,
        _weight > 0 ? _accuracy / _weight : double.NaN,
        _ids.ToArray(),
        notes)
    {
        ContributorSamples = new Dictionary<string, long>(_samplesById, StringComparer.Ordinal),
    };
}
