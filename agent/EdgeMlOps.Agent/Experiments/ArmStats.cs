using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Experiments;

/// <summary>One arm of an A/B test on the device: requests answered, failures, latency, and ground truth.</summary>
internal sealed class ArmStats(ulong version)
{
    /// <summary>Classes whose answers are counted (a share KPI of a higher class cannot be judged).</summary>
    public const int CountedClasses = 256;

    private readonly LatencyHistogram _latency = new();
    private readonly long[] _predicted = new long[CountedClasses];
    private long _served, _errors, _labelled, _correct;

    public ulong Version { get; } = version;

    public void Served(TimeSpan elapsed, long predicted)
    {
        _latency.Record(elapsed);
        Interlocked.Increment(ref _served); // before the class count: a reader that sees the class count sees the request
        if (predicted is >= 0 and < CountedClasses) Interlocked.Increment(ref _predicted[predicted]);
    }

    public void Failed() => Interlocked.Increment(ref _errors);

    public void Labelled(bool correct)
    {
        Interlocked.Increment(ref _labelled); // before correct, for the same reason
        if (correct) Interlocked.Increment(ref _correct);
    }

    /// <summary>
    /// The arm's counts, consistent while requests are being served: each part is read before the whole it belongs to
    /// (class counts before requests, correct before labelled), so a report never claims more than it served — the
    /// aggregator drops such a report as implausible. Reading in the other order did, under load (found by CI).
    /// </summary>
    public ArmCounts Counts()
    {
        var predicted = new ulong[CountedClasses];
        for (var c = 0; c < CountedClasses; c++) predicted[c] = (ulong)Interlocked.Read(ref _predicted[c]);
        var correct = (ulong)Interlocked.Read(ref _correct);
        var counts = new ArmCounts
        {
            Version = Version,
            Correct = correct,
            Labelled = (ulong)Interlocked.Read(ref _labelled),
            Errors = (ulong)Interlocked.Read(ref _errors),
            Served = (ulong)Interlocked.Read(ref _served),
            LatencyP95Ms = _latency.Count > 0 ? _latency.Quantile(0.95).TotalMilliseconds : 0,
        };
        var last = Array.FindLastIndex(predicted, c => c > 0);
        counts.Predicted.AddRange(predicted.Take(last + 1));
        return counts;
    }
}
