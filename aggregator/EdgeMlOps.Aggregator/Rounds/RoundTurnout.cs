using EdgeMlOps.Shared.Privacy;

namespace EdgeMlOps.Aggregator.Rounds;

/// <summary>
/// The share of selected devices that report by a round's deadline, learned from the rounds run so far, and the
/// selection that size implies (pace steering's over-selection, Bonawitz et al. 2019: "over-selection sized from observed
/// dropout"). A device counts as reporting when its update for the round arrives before the round's deadline — accepted,
/// or late for a round that had already reached its target and closed (those would otherwise look like dropouts and
/// inflate the selection). Rounds are weighed by <see cref="Memory"/> per round, so a fleet whose dropout changes is
/// followed within a few rounds; a prior worth <see cref="PriorWeight"/> selections at the configured over-selection's
/// completion keeps the first rounds from over-reacting. Thread-safe: the inbox reports, the coordinator plans.
/// </summary>
public sealed class RoundTurnout(double priorCompletion, double priorWeight = 20, double memory = 0.8)
{
    private readonly Lock _gate = new();
    private string? _roundId;
    private HashSet<string> _selected = new(StringComparer.Ordinal);
    private readonly HashSet<string> _reported = new(StringComparer.Ordinal);
    private readonly HashSet<string> _withdrawn = new(StringComparer.Ordinal);
    private DateTimeOffset _deadline;
    private double _reports;
    private double _selections;

    public double PriorCompletion { get; } = priorCompletion is > 0 and <= 1 ? priorCompletion : throw new ArgumentOutOfRangeException(nameof(priorCompletion));

    public double PriorWeight { get; } = priorWeight >= 0 ? priorWeight : throw new ArgumentOutOfRangeException(nameof(priorWeight));

    public double Memory { get; } = memory is > 0 and <= 1 ? memory : throw new ArgumentOutOfRangeException(nameof(memory));

    /// <summary>Rounds folded into the estimate.</summary>
    public int RoundsObserved { get; private set; }

    /// <summary>The estimated probability that a selected device reports by the deadline (posterior mean).</summary>
    public double Completion
    {
        get
        {
            lock (_gate) return (_reports + PriorCompletion * PriorWeight) / (_selections + PriorWeight);
        }
    }

    /// <summary>The last round's turnout is final: folded into the estimate (reports for it arriving later are ignored).</summary>
    public void Settle()
    {
        lock (_gate) FoldCurrent();
    }

    /// <summary>A round was sent to <paramref name="selected"/> (settling the previous one if that was not done).</summary>
    public void Begin(string roundId, IEnumerable<string> selected, DateTimeOffset deadline)
    {
        lock (_gate)
        {
            FoldCurrent();
            _roundId = roundId;
            _selected = new HashSet<string>(selected, StringComparer.Ordinal);
            _reported.Clear();
            _withdrawn.Clear();
            _deadline = deadline;
        }
    }

    /// <summary>An authenticated device's update for <paramref name="roundId"/> arrived at <paramref name="at"/> (accepted or late).</summary>
    public void Reported(string roundId, string deviceId, DateTimeOffset at)
    {
        lock (_gate)
        {
            if (roundId == _roundId && at <= _deadline && _selected.Contains(deviceId) && !_withdrawn.Contains(deviceId)) _reported.Add(deviceId);
        }
    }

    /// <summary>
    /// A selected device of the open round that has not reported can no longer report (it was revoked): the round does
    /// not wait for it, and it is not counted as a dropout. False when it was not selected, already reported or withdrawn.
    /// </summary>
    public bool Withdraw(string deviceId)
    {
        lock (_gate)
        {
            return _roundId is not null && _selected.Contains(deviceId) && !_reported.Contains(deviceId) && _withdrawn.Add(deviceId);
        }
    }

    /// <summary>Selected devices of the open round that have neither reported nor been withdrawn (0 when none is open).</summary>
    public int Outstanding
    {
        get
        {
            lock (_gate) return _roundId is null ? 0 : _selected.Count - _reported.Count - _withdrawn.Count;
        }
    }

    /// <summary>
    /// Selected devices of the open round that have not reported here, nor in <paramref name="reportedElsewhere"/> (with
    /// replicas: the devices whose updates another process claimed), nor been withdrawn.
    /// </summary>
    public int OutstandingBesides(IReadOnlySet<string> reportedElsewhere)
    {
        lock (_gate)
        {
            return _roundId is null ? 0 : _selected.Count(d => !_reported.Contains(d) && !_withdrawn.Contains(d) && !reportedElsewhere.Contains(d));
        }
    }

    /// <summary>Selected devices of the open round withdrawn so far.</summary>
    public int Withdrawn
    {
        get
        {
            lock (_gate) return _roundId is null ? 0 : _withdrawn.Count;
        }
    }

    /// <summary>
    /// The fewest devices to select so that at least <paramref name="target"/> report with probability
    /// <paramref name="confidence"/> (binomial at <see cref="Completion"/>), at least the target, at most
    /// <paramref name="maxFactor"/> × target and the eligible count.
    /// </summary>
    public int SelectCount(int target, int eligible, double confidence, double maxFactor)
    {
        var cap = Math.Min(eligible, (int)Math.Ceiling(target * maxFactor));
        if (cap <= target) return Math.Min(target, eligible);
        var p = Completion;

        // P(at least target of n report) grows with n: binary search (a 100,000-device fleet plans in ~17 tails).
        int low = target, high = cap;
        while (low < high)
        {
            var middle = low + (high - low) / 2;
            if (SpecialFunctions.BinomialAtLeast(target, middle, p) >= confidence) high = middle;
            else low = middle + 1;
        }

        return low;
    }

    private void FoldCurrent()
    {
        if (_roundId is null || _selected.Count == 0) return;
        _reports = _reports * Memory + _reported.Count;
        _selections = _selections * Memory + _selected.Count - _withdrawn.Count;
        RoundsObserved++;
        _roundId = null;
        _withdrawn.Clear();
        _selected = new HashSet<string>(StringComparer.Ordinal);
    }
}
