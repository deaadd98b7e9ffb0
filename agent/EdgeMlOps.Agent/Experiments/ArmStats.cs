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
        if (predicted is >= 0 and < CountedClasses) Interlocked.Increment(ref _predicted[predicted]);
        Interlocked.Increment(ref _served);
    }

    public void Failed() => Interlocked.Increment(ref _errors);

    public void Labelled(bool correct)
    {
        Interlocked.Increment(ref _labelled);
        if (correct) Interlocked.Increment(ref _correct);
    }

    public ArmCounts Counts()
    {
        var counts = Snapshot();
        var last = Array.FindLastIndex(_predicted, c => c > 0);
        for (var c = 0; c <= last; c++) counts.Predicted.Add((ulong)Interlocked.Read(ref _predicted[c]));
        return counts;
    }

    private ArmCounts Snapshot() => new()
    {
        Version = Version,
        Served = (ulong)Interlocked.Read(ref _served),
        Errors = (ulong)Interlocked.Read(ref _errors),
        Labelled = (ulong)Interlocked.Read(ref _labelled),
        Correct = (ulong)Interlocked.Read(ref _correct),
        LatencyP95Ms = _latency.Count > 0 ? _latency.Quantile(0.95).TotalMilliseconds : 0,
    };
}
