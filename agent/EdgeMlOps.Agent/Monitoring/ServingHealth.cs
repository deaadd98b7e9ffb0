using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Monitoring;

/// <summary>
/// How local serving goes: latency of every prediction since start, and per served version (reset on every switch)
/// its predictions, inference errors, latency and ground-truth accuracy — what a rollout's health window judges.
/// </summary>
internal sealed class ServingHealth
{
    private LatencyHistogram _versionLatency = new();
    private long _versionPredictions;
    private long _inferenceErrors;
    private long _feedbackCount;
    private long _feedbackCorrect;
    private readonly Lock _errorGate = new();
    private double _squaredErrorSum;
    private double _squaredErrorSquares;
    private ulong _version;

    /// <summary>Inference latency of every local prediction since start.</summary>
    public LatencyHistogram Latency { get; } = new();

    /// <summary>Predictions and inference errors of the served version, together.</summary>
    public long VersionAttempts => Interlocked.Read(ref _versionPredictions) + Interlocked.Read(ref _inferenceErrors);

    public long InferenceErrors => Interlocked.Read(ref _inferenceErrors);

    public void RecordPrediction(TimeSpan elapsed)
    {
        Latency.Record(elapsed);
        Volatile.Read(ref _versionLatency).Record(elapsed);
        Interlocked.Increment(ref _versionPredictions);
    }

    public void RecordError() => Interlocked.Increment(ref _inferenceErrors);

    /// <summary>Runs one inference, counting an ONNX Runtime failure as an inference error before it goes on.</summary>
    public T Guard<T>(Func<T> inference)
    {
        try
        {
            return inference();
        }
        catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            RecordError();
            throw;
        }
    }

    /// <summary>Ground truth for a prediction of the served version.</summary>
    public void RecordFeedback(bool correct)
    {
        Interlocked.Increment(ref _feedbackCount);
        if (correct) Interlocked.Increment(ref _feedbackCorrect);
    }

    /// <summary>
    /// Ground truth for a prediction of the served regressor or multi-label classifier: its squared error (mean over the
    /// values; for labels the Brier score) on that request.
    /// </summary>
    public void RecordTargetFeedback(double squaredError)
    {
        lock (_errorGate)
        {
            Interlocked.Increment(ref _feedbackCount); // under the gate too: a snapshot's count and sums agree
            _squaredErrorSum += squaredError;
            _squaredErrorSquares += squaredError * squaredError;
        }
    }

    /// <summary>
    /// The feedback figures — labels, hits, summed squared errors (a regressor's or multi-label classifier's) and their
    /// squares — and the version they were counted for (the one <see cref="ResetVersion"/> last named), read together: a
    /// status never carries an error its count does not include, nor, composed while a switch is under way, the replaced
    /// version's labels as the new one's (a stage gate once read a new version's first status with the old version's).
    /// </summary>
    public FeedbackFigures Feedback
    {
        get
        {
            lock (_errorGate)
            {
                var correct = Interlocked.Read(ref _feedbackCorrect); // before the count: never more hits than labels
                return new FeedbackFigures(_version, Interlocked.Read(ref _feedbackCount), correct, _squaredErrorSum, _squaredErrorSquares);
            }
        }
    }

    /// <summary>A new version (<paramref name="version"/>) is served: its figures start from zero.</summary>
    public void ResetVersion(ulong version = 0)
    {
        Volatile.Write(ref _versionLatency, new LatencyHistogram());
        Interlocked.Exchange(ref _versionPredictions, 0);
        Interlocked.Exchange(ref _inferenceErrors, 0);
        lock (_errorGate)
        {
            Interlocked.Exchange(ref _feedbackCount, 0);
            Interlocked.Exchange(ref _feedbackCorrect, 0);
            (_squaredErrorSum, _squaredErrorSquares, _version) = (0, 0, version);
        }
    }

    /// <summary>Why the served version fails <paramref name="policy"/>, or null if it passes.</summary>
    public string? Problem(HealthPolicy policy)
    {
        var errors = Interlocked.Read(ref _inferenceErrors);
        var total = errors + Interlocked.Read(ref _versionPredictions);
        if (total > 0 && (double)errors / total > policy.MaxErrorRate)
        {
            return FormattableString.Invariant($"inference errors {errors} of {total} ({(double)errors / total:P1}) exceed {policy.MaxErrorRate:P1}");
        }

        var latency = Volatile.Read(ref _versionLatency);
        var p95 = latency.Quantile(0.95).TotalMilliseconds;
        if (policy.LatencyBudgetP95Ms > 0 && latency.Count > 0 && p95 > policy.LatencyBudgetP95Ms)
        {
            return FormattableString.Invariant($"p95 latency {p95:F2} ms exceeds the budget of {policy.LatencyBudgetP95Ms:F2} ms");
        }

        return null;
    }
}

/// <summary>Ground-truth figures of one served version, read together with the version they belong to.</summary>
internal readonly record struct FeedbackFigures(ulong Version, long Count, long Correct, double SquaredErrorSum, double SquaredErrorSquares)
{
    /// <summary>These figures if they were counted for <paramref name="served"/>, else none (a switch is under way).</summary>
    public FeedbackFigures For(ulong served) => Version == served ? this : new FeedbackFigures(served, 0, 0, 0, 0);
}
