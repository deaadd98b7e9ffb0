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

/// <summary>The result of a closed round: the sample-weighted mean delta and who made it.</summary>
public sealed record RoundAggregate(
    float[] MeanDelta,
    int Contributors,
    long Samples,
    double MeanLocalLoss,
    double MeanLocalAccuracy,
    IReadOnlyList<string> ContributorIds);

/// <summary>
/// Streaming federated averaging for one round: validates each update against the round
/// (id, model, base version, selection, shape, finiteness, duplicates), then folds it into a
/// weighted sum at once. Memory is O(parameters). Thread-safe: updates may arrive concurrently.
/// </summary>
public sealed class RoundAccumulator
{
    private readonly object _gate = new();
    private readonly StreamingWeightedSum _sum;
    private readonly HashSet<string> _selected;
    private readonly HashSet<string> _contributed = new(StringComparer.Ordinal);
    private readonly List<string> _contributorIds = new();
    private readonly long _maxSamplesPerUpdate;
    private double _lossSum;
    private double _accuracySum;
    private long _samples;
    private bool _closed;

    public RoundAccumulator(string roundId, string modelName, ulong baseVersion, ParameterLayout layout, IEnumerable<string> selected, long maxSamplesPerUpdate = 1_000_000)
    {
        RoundId = roundId;
        ModelName = modelName;
        BaseVersion = baseVersion;
        Layout = layout;
        _selected = new HashSet<string>(selected, StringComparer.Ordinal);
        _sum = new StreamingWeightedSum(layout.TotalLength);
        _maxSamplesPerUpdate = maxSamplesPerUpdate;
    }

    public string RoundId { get; }

    public string ModelName { get; }

    public ulong BaseVersion { get; }

    public ParameterLayout Layout { get; }

    public int SelectedCount => _selected.Count;

    public int AcceptedCount
    {
        get { lock (_gate) return _sum.Count; }
    }

    /// <summary>Validates and, if valid, folds in <paramref name="update"/> from <paramref name="deviceId"/>.</summary>
    public UpdateOutcome Offer(string deviceId, ModelUpdate update)
    {
        if (update.Header is null || update.Header.ProtocolVersion != ProtocolInfo.CurrentVersion)
        {
            return UpdateOutcome.Reject(RejectionReason.ProtocolVersion, $"protocol version {update.Header?.ProtocolVersion.ToString() ?? "missing"}");
        }

        if (update.RoundId != RoundId) return UpdateOutcome.Reject(RejectionReason.UnknownRound, $"round '{update.RoundId}' is not open");
        if (update.ModelName != ModelName || update.BaseVersion != BaseVersion)
        {
            return UpdateOutcome.Reject(RejectionReason.WrongBaseVersion, $"update is for {update.ModelName} v{update.BaseVersion}, round trains {ModelName} v{BaseVersion}");
        }

        if (!_selected.Contains(deviceId)) return UpdateOutcome.Reject(RejectionReason.NotSelected, $"device '{deviceId}' was not selected");
        if (update.SampleCount == 0 || update.SampleCount > (ulong)_maxSamplesPerUpdate)
        {
            return UpdateOutcome.Reject(RejectionReason.BadSampleCount, $"sample count {update.SampleCount}");
        }

        // Validate outside the lock: it reads only the update.
        if (TensorCodec.Validate(Layout, update.Delta, out _) is { } invalid)
        {
            return UpdateOutcome.Reject(invalid.Reason, invalid.Detail);
        }

        lock (_gate)
        {
            if (_closed) return UpdateOutcome.Reject(RejectionReason.RoundClosed, "round already closed");
            if (!_contributed.Add(deviceId)) return UpdateOutcome.Reject(RejectionReason.Duplicate, $"device '{deviceId}' already contributed");
            double weight = update.SampleCount;
            foreach (var tensor in update.Delta)
            {
                Layout.TryGet(tensor.Name, out var p);
                _sum.AddSlice(p.Offset, TensorCodec.Floats(tensor), weight);
            }

            _sum.Commit(weight);
            _samples += (long)update.SampleCount;
            _contributorIds.Add(deviceId);
            if (update.Metrics is { } m && double.IsFinite(m.Loss) && double.IsFinite(m.Accuracy))
            {
                _lossSum += m.Loss * weight;
                _accuracySum += m.Accuracy * weight;
            }
        }

        return UpdateOutcome.Accept();
    }

    /// <summary>Closes the round to further updates and returns the aggregate.</summary>
    public RoundAggregate Close()
    {
        lock (_gate)
        {
            _closed = true;
            var weight = _sum.TotalWeight;
            return new RoundAggregate(
                _sum.Mean(),
                _sum.Count,
                _samples,
                weight > 0 ? _lossSum / weight : double.NaN,
                weight > 0 ? _accuracySum / weight : double.NaN,
                _contributorIds.ToArray());
        }
    }
}
