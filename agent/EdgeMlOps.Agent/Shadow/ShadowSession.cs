using System.Diagnostics;
using System.Collections.Concurrent;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Shadow;

/// <summary>
/// One shadow test: the candidate's session, a bounded queue of served requests to score off the request path, one
/// worker scoring them, the CPU budget, and the pairing of scored requests with ground truth that arrives later
/// (before or after the candidate scored them). Given the incumbent's session too, the worker times both on each
/// scored request, back to back on the same thread in alternating order, so the latency comparison is like for like
/// (the request path's own timing runs on another thread under other load). A streaming candidate is scored on whole
/// sessions, from its own state of each (<see cref="ShadowStreams"/>).
/// </summary>
internal sealed class ShadowSession : IAsyncDisposable
{
    /// <summary>Scored requests waiting for their ground truth; the oldest are forgotten beyond this.</summary>
    public const int MaxPendingLabels = 4096;

    /// <summary>
    /// How often the worker takes what the request path queued. Polling instead of a signal per request: waking a
    /// sleeping thread for every request cost the request path ~40 µs at 2,000 requests/s (bench shadow-cost).
    /// </summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(5);

    private readonly SharedCache<InferenceModel>.Lease _candidate;
    private readonly SharedCache<InferenceModel>.Lease? _incumbent;
    private readonly ShadowPolicy _policy;
    private readonly ShadowBudget _budget;
    private readonly ConcurrentQueue<Item> _queue = new();
    private readonly int _maxPending;
    private int _pending;
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, Pair> _pairs = new(StringComparer.Ordinal);
    private readonly Queue<string> _pairOrder = new();
    private readonly Task _worker;
    private readonly bool _regressor; // values compared, targets paired (else classes and labels)
    private readonly ShadowStreams? _streams; // a streaming candidate's states, by session

    public ShadowSession(string rolloutId, ulong incumbent, ulong candidate, SharedCache<InferenceModel>.Lease session, ShadowPolicy policy, ulong memoryBytes, SharedCache<InferenceModel>.Lease? incumbentSession = null, TimeProvider? time = null)
    {
        _incumbent = incumbentSession;
        RolloutId = rolloutId;
        IncumbentVersion = incumbent;
        CandidateVersion = candidate;
        MemoryBytes = memoryBytes;
        _candidate = session;
        _policy = policy;
        _budget = new ShadowBudget(policy.MaxCpuShare > 0 ? policy.MaxCpuShare : 1);
        _maxPending = (int)Math.Clamp(policy.MaxPending, 1, 4096);
        _regressor = session.Value.Spec.TakesTargets; // a multi-label candidate: squared errors of its probabilities (the Brier score)
        _streams = session.Value.Spec.Graph is { States.Count: > 0 } streaming ? new ShadowStreams(streaming, candidate, policy.SampleRate, time ?? TimeProvider.System) : null;
        _worker = Task.Run(ScoreAsync);
    }

    public string RolloutId { get; }

    public ulong IncumbentVersion { get; }

    public ulong CandidateVersion { get; }

    public ulong MemoryBytes { get; }

    public ShadowStats Stats { get; } = new();

    /// <summary>
    /// A request the incumbent served: queued for the candidate unless sampling, the budget or a full queue says no. For
    /// a regressor <paramref name="label"/> is −1 and <paramref name="probabilities"/> are its values. A call of a
    /// streaming model's session (<paramref name="stream"/>) is queued only while its session's chain is intact.
    /// </summary>
    public void Offer(string predictionId, float[] features, long label, float[] probabilities, TimeSpan elapsed, Serving.SessionCall? stream = null)
    {
        var skip = stream is { } call && _streams is not null ? _streams.Admit(call, Capacity)
            : _policy.SampleRate < 1 && Random.Shared.NextDouble() >= _policy.SampleRate ? ShadowSkip.Sample
            : Capacity();
        if (skip == ShadowSkip.None)
        {
            Expect(predictionId, label, _regressor ? probabilities : null);
            _queue.Enqueue(new Item(predictionId, features, label, probabilities, elapsed, stream));
        }

        Stats.Offered(skip);
    }

    /// <summary>A place for one more request within the CPU budget and the queue (<see cref="ShadowSkip.None"/>), or why there is none.</summary>
    private ShadowSkip Capacity()
    {
        if (!_budget.Allows()) return ShadowSkip.Budget;
        if (Interlocked.Increment(ref _pending) <= _maxPending) return ShadowSkip.None;
        Interlocked.Decrement(ref _pending);
        return ShadowSkip.Queue;
    }

    /// <summary>Ground truth for a served request: recorded as a pair once the candidate has scored it.</summary>
    public void Outcome(string predictionId, long truth)
    {
        Pair? pair;
        lock (_pairs)
        {
            if (!_pairs.TryGetValue(predictionId, out pair)) return;
            pair.Truth = truth;
            if (pair.Candidate is null) return;
            _pairs.Remove(predictionId);
        }

        Stats.Labelled(pair.Incumbent == truth, pair.Candidate == truth);
    }

    /// <summary>A regressor's target for a served request: its squared errors paired once the candidate has scored it.</summary>
    public void OutcomeTarget(string predictionId, float[] target)
    {
        Pair? pair;
        lock (_pairs)
        {
            if (!_pairs.TryGetValue(predictionId, out pair) || pair.IncumbentValues is not { } mine || mine.Length != target.Length) return;
            pair.Target = target;
            if (pair.CandidateValues is null) return;
            _pairs.Remove(predictionId);
        }

        Stats.LabelledValues(pair.IncumbentValues, pair.CandidateValues, target, _candidate.Value.Spec);
    }

    private void Expect(string predictionId, long incumbentLabel, float[]? incumbentValues)
    {
        lock (_pairs)
        {
            _pairs[predictionId] = new Pair(incumbentLabel) { IncumbentValues = incumbentValues };
            _pairOrder.Enqueue(predictionId);
            while (_pairOrder.Count > MaxPendingLabels) _pairs.Remove(_pairOrder.Dequeue());
        }
    }

    private void Forget(string predictionId)
    {
        lock (_pairs) _pairs.Remove(predictionId);
    }

    /// <summary>The candidate's class for a request whose truth may already be known: records the pair if so.</summary>
    private void Scored(string predictionId, long candidateLabel)
    {
        Pair? complete = null;
        lock (_pairs)
        {
            if (!_pairs.TryGetValue(predictionId, out var pair)) return;
            pair.Candidate = candidateLabel;
            if (pair.Truth is not null)
            {
                complete = pair;
                _pairs.Remove(predictionId);
            }
        }

        if (complete is not null) Stats.Labelled(complete.Incumbent == complete.Truth, complete.Candidate == complete.Truth);
    }

    /// <summary>A regressor candidate's values for a request whose target may already be known: records the pair if so.</summary>
    private void ScoredValues(string predictionId, float[] values)
    {
        Pair? complete = null;
        lock (_pairs)
        {
            if (!_pairs.TryGetValue(predictionId, out var pair)) return;
            pair.CandidateValues = values;
            if (pair.Target is not null)
            {
                complete = pair;
                _pairs.Remove(predictionId);
            }
        }

        if (complete is not null) Stats.LabelledValues(complete.IncumbentValues, complete.CandidateValues, complete.Target, _candidate.Value.Spec);
    }

    /// <summary>The incumbent's latency on this request, timed on the worker (the request path's timing without its session).</summary>
    private TimeSpan TimeIncumbent(Item item)
    {
        if (_incumbent is null) return item.Elapsed;
        var started = Stopwatch.GetTimestamp();
        if (_regressor) _incumbent.Value.PredictValues(item.Features, 1);
        else _incumbent.Value.Predict(item.Features, 1);
        return Stopwatch.GetElapsedTime(started);
    }

    /// <summary>The candidate's run on a request: from its own state of the session for a streaming call (null: that state is gone), else on the row as served.</summary>
    private T? Candidate<T>(Item item, Func<float[], T> run, Func<T, IReadOnlyList<float[]>> states)
        where T : class =>
        item.Stream is { } call && _streams is not null ? _streams.Run(call, item.Features, run, states) : run(item.Features);

    /// <summary>Scores one request with the candidate; false when its answer cannot be compared with the incumbent's.</summary>
    private bool Score(Item item, TimeSpan incumbentElapsed, bool incumbentFirst, long started)
    {
        var candidateStarted = Stopwatch.GetTimestamp();
        if (_regressor)
        {
            if (Candidate(item, row => _candidate.Value.PredictValues(row, 1), b => b.States)?.Values is not { } values) return StateLost(item, started);
            var took = Stopwatch.GetElapsedTime(candidateStarted);
            if (!incumbentFirst) incumbentElapsed = TimeIncumbent(item);
            _budget.Spent(Stopwatch.GetElapsedTime(started));
            if (values.Length != item.Probabilities.Length) return false; // another number of values: nothing to compare
            Stats.ComparedValues(item.Probabilities, values, incumbentElapsed, took, _candidate.Value.Spec);
            ScoredValues(item.PredictionId, values);
            return true;
        }

        if (Candidate(item, row => _candidate.Value.Predict(row, 1), b => b.States) is not { } batch) return StateLost(item, started);
        var elapsed = Stopwatch.GetElapsedTime(candidateStarted);
        if (!incumbentFirst) incumbentElapsed = TimeIncumbent(item);
        _budget.Spent(Stopwatch.GetElapsedTime(started));
        Stats.Compared(item.Label, batch.Labels[0], item.Probabilities, batch.Probabilities, incumbentElapsed, elapsed);
        Scored(item.PredictionId, batch.Labels[0]);
        return true;
    }

    /// <summary>A streaming call whose session the candidate lost the state of: skipped, not compared (true: no candidate error).</summary>
    private bool StateLost(Item item, long started)
    {
        _budget.Spent(Stopwatch.GetElapsedTime(started));
        Stats.StateLost();
        Forget(item.PredictionId);
        return true;
    }

    private async Task ScoreAsync()
    {
        long scoredCount = 0;
        try
        {
            while (true)
            {
                _stop.Token.ThrowIfCancellationRequested();
                if (!_queue.TryDequeue(out var item))
                {
                    await Task.Delay(PollInterval, _stop.Token).ConfigureAwait(false);
                    continue;
                }

                Interlocked.Decrement(ref _pending);
                var started = Stopwatch.GetTimestamp();
                try
                {
                    var incumbentFirst = (scoredCount++ & 1) == 0;
                    if (!Score(item, incumbentFirst ? TimeIncumbent(item) : TimeSpan.Zero, incumbentFirst, started))
                    {
                        Stats.CandidateFailed();
                        Forget(item.PredictionId);
                    }
                }
                catch (Exception ex) when (Serving.AnswerFailure.Is(ex) || ex is InvalidOperationException)
                {
                    // The candidate could not answer what the incumbent did (its front end may refuse a sample the served one takes).
                    _budget.Spent(Stopwatch.GetElapsedTime(started));
                    Stats.CandidateFailed();
                    Forget(item.PredictionId);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public ShadowReport Report() => Stats.Report(RolloutId, IncumbentVersion, CandidateVersion, MemoryBytes);

    /// <summary>Stops scoring (requests still queued are dropped) and releases the candidate's session.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _worker.ConfigureAwait(false);
        _stop.Dispose();
        _candidate.Dispose();
        _incumbent?.Dispose();
    }

    private sealed record Item(string PredictionId, float[] Features, long Label, float[] Probabilities, TimeSpan Elapsed, Serving.SessionCall? Stream);

    private sealed class Pair(long incumbent)
    {
        public long Incumbent { get; } = incumbent;

        public long? Candidate { get; set; }

        public long? Truth { get; set; }

        /// <summary>A regressor's values from the incumbent, the candidate, and its target (null until known).</summary>
        public float[]? IncumbentValues { get; init; }

        public float[]? CandidateValues { get; set; }

        public float[]? Target { get; set; }
    }
}
