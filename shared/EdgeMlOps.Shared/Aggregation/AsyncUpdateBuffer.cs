using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Shared.Aggregation;

/// <summary>
/// Buffered asynchronous aggregation (FedBuff, Nguyen et al. 2022). Devices train on whatever
/// version was current when they were asked; their updates join a buffer whatever version is
/// current now, discounted by staleness τ = current − base (the strategy's weight, (1 + τ)^−½ by
/// default) and refused beyond a staleness cap. Every K accepted updates the buffer is flushed
/// into a new version. Thread-safe.
/// </summary>
public sealed class AsyncUpdateBuffer
{
    private readonly object _gate = new();
    private readonly FederatedStrategy _strategy;
    private readonly ParameterLayout _layout;
    private readonly long _maxSamplesPerUpdate;
    private readonly Dictionary<string, (string DeviceId, ulong BaseVersion)> _outstanding = new(StringComparer.Ordinal);
    private IUpdateCombiner _combiner;
    private LocalMetricsMean _metrics = new();
    private RoundContext _context;
    private long _stalenessSum;

    public AsyncUpdateBuffer(string modelName, ParameterLayout layout, FederatedStrategy strategy, int bufferSize, int stalenessCap, RoundContext context, long maxSamplesPerUpdate = UpdateChecks.MaxSamplesPerReport)
    {
        if (bufferSize < 1) throw new ArgumentOutOfRangeException(nameof(bufferSize));
        if (stalenessCap < 0) throw new ArgumentOutOfRangeException(nameof(stalenessCap));
        ModelName = modelName;
        BufferSize = bufferSize;
        StalenessCap = stalenessCap;
        _layout = layout;
        _strategy = strategy;
        _context = context;
        _maxSamplesPerUpdate = maxSamplesPerUpdate;
        _combiner = strategy.CreateCombiner(context, layout);
    }

    public string ModelName { get; }

    public int BufferSize { get; }

    public int StalenessCap { get; }

    /// <summary>The version updates are measured against; advanced by <see cref="Flush"/>.</summary>
    public ulong CurrentVersion { get; private set; }

    public int Buffered
    {
        get { lock (_gate) return _combiner.Count; }
    }

    public int Outstanding
    {
        get { lock (_gate) return _outstanding.Count; }
    }

    public bool IsFull
    {
        get { lock (_gate) return _combiner.Count >= BufferSize; }
    }

    /// <summary>Devices with a task in flight.</summary>
    public IReadOnlyCollection<string> BusyDevices
    {
        get { lock (_gate) return _outstanding.Values.Select(v => v.DeviceId).ToHashSet(StringComparer.Ordinal); }
    }

    public void SetCurrentVersion(ulong version)
    {
        lock (_gate) CurrentVersion = version;
    }

    /// <summary>Records a task sent to <paramref name="deviceId"/> to train <paramref name="baseVersion"/>.</summary>
    public void Issue(string taskId, string deviceId, ulong baseVersion)
    {
        lock (_gate) _outstanding[taskId] = (deviceId, baseVersion);
    }

    /// <summary>Forgets a task whose device never answered (its deadline passed).</summary>
    public bool Expire(string taskId)
    {
        lock (_gate) return _outstanding.Remove(taskId);
    }

    public UpdateOutcome Offer(string deviceId, ModelUpdate update)
    {
        (string DeviceId, ulong BaseVersion) task;
        lock (_gate)
        {
            if (!_outstanding.TryGetValue(update.RoundId, out task)) return UpdateOutcome.Reject(RejectionReason.UnknownRound, $"task '{update.RoundId}' is not outstanding");
        }

        if (task.DeviceId != deviceId) return UpdateOutcome.Reject(RejectionReason.NotSelected, $"task '{update.RoundId}' was not given to '{deviceId}'");
        if (update.ModelName != ModelName || update.BaseVersion != task.BaseVersion)
        {
            return UpdateOutcome.Reject(RejectionReason.WrongBaseVersion, $"update is for {update.ModelName} v{update.BaseVersion}, task trains {ModelName} v{task.BaseVersion}");
        }

        if (UpdateChecks.Check(_layout, update, _maxSamplesPerUpdate, _strategy.MaxUpdateNorm, out var norm) is { } invalid) return invalid;
        if (UpdateChecks.ExactRange(Volatile.Read(ref _combiner), _strategy, update, norm) is { } beyond) return beyond;

        lock (_gate)
        {
            // Removing the task makes a replay of this update unknown from here on.
            if (!_outstanding.Remove(update.RoundId)) return UpdateOutcome.Reject(RejectionReason.Duplicate, $"task '{update.RoundId}' already answered");
            var staleness = (long)(CurrentVersion - Math.Min(CurrentVersion, update.BaseVersion));
            if (staleness > StalenessCap)
            {
                return UpdateOutcome.Reject(RejectionReason.Stale, $"trained on v{update.BaseVersion}, {staleness} versions behind v{CurrentVersion} (cap {StalenessCap})");
            }

            var contribution = _strategy.Weigh(deviceId, update, norm, staleness);
            _combiner.Add(contribution, _layout, update.Delta);
            _metrics.Add(deviceId, update, contribution.Weight);
            _stalenessSum += staleness;
        }

        return UpdateOutcome.Accept();
    }

    /// <summary>Combines the buffer, starts an empty one for <paramref name="next"/>, and returns the aggregate with its mean staleness.</summary>
    public RoundAggregate Flush(RoundContext next)
    {
        lock (_gate)
        {
            var notes = new StrategyNotes();
            var count = _combiner.Count;
            var delta = count > 0 ? _strategy.Combine(_context, _combiner, notes) : new float[_layout.TotalLength];
            notes["fedbuff.mean_staleness"] = count > 0 ? (double)_stalenessSum / count : 0;
            var aggregate = _metrics.ToAggregate(delta, notes);
            _context = next;
            _combiner = _strategy.CreateCombiner(next, _layout);
            _metrics = new LocalMetricsMean();
            _stalenessSum = 0;
            return aggregate;
        }
    }
}
