using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Shadow;

/// <summary>
/// What one shadow test has seen: how many served requests were offered, scored or skipped (and why), how often the
/// candidate agreed with the incumbent, how far apart their probabilities were, both latencies on the scored
/// requests, and — for scored requests whose ground truth arrived — which of the two was right. Counts only.
/// </summary>
internal sealed class ShadowStats
{
    private readonly object _gate = new();
    private readonly LatencyHistogram _incumbentLatency = new();
    private readonly LatencyHistogram _candidateLatency = new();
    private ulong _offered, _scored, _skippedSample, _skippedBudget, _skippedQueue, _skippedState, _errors, _agreed;
    private ulong _labelled, _incumbentCorrect, _candidateCorrect, _onlyIncumbent, _onlyCandidate;
    private double _distanceSum, _distanceMax;
    private double _valueDifferenceSum, _valueDifferenceMax, _incumbentSquaredError, _candidateSquaredError, _differenceSquares;

    public void Offered(ShadowSkip skip)
    {
        lock (_gate)
        {
            _offered++;
            switch (skip)
            {
                case ShadowSkip.Sample: _skippedSample++; break;
                case ShadowSkip.Budget: _skippedBudget++; break;
                case ShadowSkip.Queue: _skippedQueue++; break;
                case ShadowSkip.State: _skippedState++; break;
            }
        }
    }

    /// <summary>A queued call of a streaming session whose state the candidate no longer had: skipped after all.</summary>
    public void StateLost()
    {
        lock (_gate) _skippedState++;
    }

    public void CandidateFailed()
    {
        lock (_gate) _errors++;
    }

    /// <summary>One request scored by both: their classes, probability vectors and latencies.</summary>
    public void Compared(long incumbentLabel, long candidateLabel, ReadOnlySpan<float> incumbent, ReadOnlySpan<float> candidate, TimeSpan incumbentElapsed, TimeSpan candidateElapsed)
    {
        var distance = TotalVariation(incumbent, candidate);
        _incumbentLatency.Record(incumbentElapsed);
        _candidateLatency.Record(candidateElapsed);
        lock (_gate)
        {
            _scored++;
            if (incumbentLabel == candidateLabel) _agreed++;
            _distanceSum += distance;
            _distanceMax = Math.Max(_distanceMax, distance);
        }
    }

    /// <summary>The mean absolute difference of two answers, or for a per-position classifier the share of positions they class differently.</summary>
    private static double MeanDifference(ReadOnlySpan<float> incumbent, ReadOnlySpan<float> candidate, bool perPosition)
    {
        var difference = 0.0;
        for (var i = 0; i < incumbent.Length; i++) difference += perPosition ? (incumbent[i] == candidate[i] ? 0 : 1) : Math.Abs((double)incumbent[i] - candidate[i]);
        return difference / Math.Max(1, incumbent.Length);
    }

    /// <summary>
    /// One request to a regressor scored by both: how far apart their values were (the mean absolute difference; for a
    /// per-position classifier the share of positions they class differently), and both latencies.
    /// </summary>
    public void ComparedValues(ReadOnlySpan<float> incumbent, ReadOnlySpan<float> candidate, TimeSpan incumbentElapsed, TimeSpan candidateElapsed, Shared.Models.ModelSpec spec)
    {
        var difference = spec.IsMultiTask ? spec.RowError(incumbent, candidate) : MeanDifference(incumbent, candidate, spec.IsPerPosition); // a multi-task model's: its tasks' weighted error of one answer against the other
        _incumbentLatency.Record(incumbentElapsed);
        _candidateLatency.Record(candidateElapsed);
        lock (_gate)
        {
            _scored++;
            _valueDifferenceSum += difference;
            _valueDifferenceMax = Math.Max(_valueDifferenceMax, difference);
        }
    }

    /// <summary>A target for a scored request to a regressor: both versions' errors as <paramref name="spec"/> measures one (<see cref="Shared.Models.ModelSpec.RowError"/>), paired.</summary>
    public void LabelledValues(ReadOnlySpan<float> incumbent, ReadOnlySpan<float> candidate, ReadOnlySpan<float> target, Shared.Models.ModelSpec spec)
    {
        var (mine, theirs) = (spec.RowError(incumbent, target), spec.RowError(candidate, target));
        lock (_gate)
        {
            _labelled++;
            _incumbentSquaredError += mine;
            _candidateSquaredError += theirs;
            _differenceSquares += (theirs - mine) * (theirs - mine);
        }
    }

    /// <summary>Ground truth for a scored request: a paired outcome.</summary>
    public void Labelled(bool incumbentRight, bool candidateRight)
    {
        lock (_gate)
        {
            _labelled++;
            if (incumbentRight) _incumbentCorrect++;
            if (candidateRight) _candidateCorrect++;
            if (incumbentRight && !candidateRight) _onlyIncumbent++;
            if (candidateRight && !incumbentRight) _onlyCandidate++;
        }
    }

    /// <summary>Half the L1 distance between two probability vectors (1 for vectors of different length: not comparable).</summary>
    public static double TotalVariation(ReadOnlySpan<float> p, ReadOnlySpan<float> q)
    {
        if (p.Length != q.Length) return 1;
        var sum = 0.0;
        for (var i = 0; i < p.Length; i++) sum += Math.Abs((double)p[i] - q[i]);
        return Math.Min(1, sum / 2);
    }

    public ShadowReport Report(string rolloutId, ulong incumbent, ulong candidate, ulong memoryBytes)
    {
        lock (_gate)
        {
            return new ShadowReport
            {
                RolloutId = rolloutId,
                IncumbentVersion = incumbent,
                CandidateVersion = candidate,
                Offered = _offered,
                Scored = _scored,
                SkippedSample = _skippedSample,
                SkippedBudget = _skippedBudget,
                SkippedQueue = _skippedQueue,
                SkippedState = _skippedState,
                CandidateErrors = _errors,
                Agreed = _agreed,
                DistanceSum = _distanceSum,
                DistanceMax = _distanceMax,
                IncumbentLatencyP95Ms = _incumbentLatency.Count > 0 ? _incumbentLatency.Quantile(0.95).TotalMilliseconds : 0,
                CandidateLatencyP50Ms = _candidateLatency.Count > 0 ? _candidateLatency.Quantile(0.50).TotalMilliseconds : 0,
                CandidateLatencyP95Ms = _candidateLatency.Count > 0 ? _candidateLatency.Quantile(0.95).TotalMilliseconds : 0,
                Labelled = _labelled,
                IncumbentCorrect = _incumbentCorrect,
                CandidateCorrect = _candidateCorrect,
                OnlyIncumbentCorrect = _onlyIncumbent,
                OnlyCandidateCorrect = _onlyCandidate,
                CandidateMemoryBytes = memoryBytes,
                ValueDifferenceSum = _valueDifferenceSum,
                ValueDifferenceMax = _valueDifferenceMax,
                IncumbentSquaredErrorSum = _incumbentSquaredError,
                CandidateSquaredErrorSum = _candidateSquaredError,
                SquaredErrorDifferenceSquares = _differenceSquares,
            };
        }
    }
}

/// <summary>Why a served request was not scored in the shadow (None: it was queued).</summary>
internal enum ShadowSkip
{
    None,
    Sample,
    Budget,
    Queue,

    /// <summary>A call of a streaming session whose chain of calls the candidate does not have whole (sampled out, broken, or joined midway).</summary>
    State,
}
