using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Experiments;

/// <summary>One arm of an A/B test on the device: requests answered, failures, latency, and ground truth.</summary>
internal sealed class ArmStats(ulong version)
{
    private readonly LatencyHistogram _latency = new();
    private long _served, _errors, _labelled, _correct;

    public ulong Version { get; } = version;

    public void Served(TimeSpan elapsed)
    {
        _latency.Record(elapsed);
        Interlocked.Increment(ref _served);
    }

    public void Failed() => Interlocked.Increment(ref _errors);

    public void Labelled(bool correct)
    {
        Interlocked.Increment(ref _labelled);
        if (correct) Interlocked.Increment(ref _correct);
    }

    public ArmCounts Counts() => new()
    {
        Version = Version,
        Served = (ulong)Interlocked.Read(ref _served),
        Errors = (ulong)Interlocked.Read(ref _errors),
        Labelled = (ulong)Interlocked.Read(ref _labelled),
        Correct = (ulong)Interlocked.Read(ref _correct),
        LatencyP95Ms = _latency.Count > 0 ? _latency.Quantile(0.95).TotalMilliseconds : 0,
    };
}
