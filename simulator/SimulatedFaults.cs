using EdgeMlOps.Agent;
using EdgeMlOps.Shared.Hashing;

namespace EdgeMlOps.Simulator;

/// <summary>Seeded dropout and straggling: the same seed drops the same devices in the same rounds.</summary>
public sealed class SimulatedFaults(int seed, double dropout, double stragglerProbability, TimeSpan stragglerDelay) : AgentFaults
{
    public override bool DropsOut(string deviceId, string roundId) => Draw(deviceId, roundId, 1) < dropout;

    public override TimeSpan ReportDelay(string deviceId, string roundId) =>
        Draw(deviceId, roundId, 2) < stragglerProbability ? stragglerDelay : TimeSpan.Zero;

    private double Draw(string deviceId, string roundId, int stream) =>
        (StableHash.Fnv1a64($"{seed}/{stream}/{deviceId}/{roundId}") >> 11) * (1.0 / (1UL << 53));
}
