namespace EdgeMlOps.Shared.Protocol.V1;

/// <summary>Counts derived from a device's shadow report, read the same way on the device and the aggregator.</summary>
public sealed partial class ShadowReport
{
    /// <summary>Served requests not scored in the shadow, for any reason (sampling, budget, queue, a streaming session's chain).</summary>
    public ulong Skipped => SkippedSample + SkippedBudget + SkippedQueue + SkippedState;
}
