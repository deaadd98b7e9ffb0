using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Rollouts;

namespace EdgeMlOps.Agent.Experiments;

/// <summary>One arm of an A/B test on the device: requests answered, failures, latency, and ground truth (with the confusion counts a cost KPI is judged on).</summary>
internal sealed class ArmStats(ulong version)
{
    /// <summary>Classes whose answers are counted (a share KPI of a higher class cannot be judged).</summary>
    public const int CountedClasses = 256;

    private readonly LatencyHistogram _latency = new();
    private readonly long[] _predicted = new long[CountedClasses];
    private readonly long[] _confusion = new long[ArmConfusion.Cells];
    private long _served, _errors, _labelled, _correct;
    private readonly Lock _errorGate = new();
    private double _squaredErrorSum, _squaredErrorSquares;

    public ulong Version { get; } = version;

    public void Served(TimeSpan elapsed, long predicted)
    {
        _latency.Record(elapsed);
        Interlocked.Increment(ref _served); // before the class count: a reader that sees the class count sees the request
        if (predicted is >= 0 and < CountedClasses) Interlocked.Increment(ref _predicted[predicted]);
    }

    public void Failed() => Interlocked.Increment(ref _errors);

    /// <summary>Ground truth <paramref name="truth"/> for a request this arm answered with <paramref name="predicted"/>.</summary>
    public void Labelled(long truth, long predicted)
    {
        Interlocked.Increment(ref _labelled); // before the cell and correct, for the same reason
        if (ArmConfusion.Cell(truth, predicted) is var cell and >= 0) Interlocked.Increment(ref _confusion[cell]);
        if (truth == predicted) Interlocked.Increment(ref _correct);
    }

    /// <summary>A target for a request this arm answered (a regressor or multi-label classifier): its squared error.</summary>
    public void LabelledError(double squaredError)
    {
        Interlocked.Increment(ref _labelled); // before the sums, which are read before it: the sums never hold more requests than labelled says
        lock (_errorGate)
        {
            _squaredErrorSum += squaredError;
            _squaredErrorSquares += squaredError * squaredError;
        }
    }

    /// <summary>
    /// The arm's counts, consistent while requests are being served: each part is read before the whole it belongs to
    /// (class counts before requests, correct and confusion cells before labelled), so a report never claims more than it served — the
    /// aggregator drops such a report as implausible. Reading in the other order did, under load (found by CI).
    /// </summary>
    public ArmCounts Counts()
    {
        var predicted = new ulong[CountedClasses];
        for (var c = 0; c < CountedClasses; c++) predicted[c] = (ulong)Interlocked.Read(ref _predicted[c]);
        var correct = (ulong)Interlocked.Read(ref _correct);
        double errorSum, errorSquares;
        lock (_errorGate) (errorSum, errorSquares) = (_squaredErrorSum, _squaredErrorSquares);
        var confusion = new ulong[ArmConfusion.Cells];
        for (var i = 0; i < confusion.Length; i++) confusion[i] = (ulong)Interlocked.Read(ref _confusion[i]);
        var counts = new ArmCounts
        {
            Version = Version,
            Correct = correct,
            Labelled = (ulong)Interlocked.Read(ref _labelled),
            Errors = (ulong)Interlocked.Read(ref _errors),
            Served = (ulong)Interlocked.Read(ref _served),
            LatencyP95Ms = _latency.Count > 0 ? _latency.Quantile(0.95).TotalMilliseconds : 0,
            SquaredErrorSum = errorSum,
            SquaredErrorSquares = errorSquares,
        };
        var last = Array.FindLastIndex(predicted, c => c > 0);
        counts.Predicted.AddRange(predicted.Take(last + 1));
        counts.Confusion.AddRange(confusion.Take(Array.FindLastIndex(confusion, c => c > 0) + 1));
        return counts;
    }
}
