using EdgeMlOps.Agent;
using EdgeMlOps.Shared.Hashing;

namespace EdgeMlOps.Simulator;

/// <summary>
/// Seeded dropout, straggling, always-slow devices and Byzantine devices: the same seed picks the
/// same devices in the same rounds. Byzantine devices are a fixed set of about
/// <c>byzantineFraction</c> of the fleet; their attack is applied to the delta they send
/// (label flipping is applied to their data instead, see <see cref="FlipsLabels"/>). Wire faults
/// act through <see cref="FaultyFleetChannel"/>; a version that fails to load, through the agent's
/// <see cref="AgentFaults"/>.
/// </summary>
public sealed class SimulatedFaults(
    int seed,
    double dropout,
    double stragglerProbability,
    TimeSpan stragglerDelay,
    double slowFraction = 0,
    TimeSpan slowDelay = default,
    double byzantineFraction = 0,
    string attack = "sign-flip",
    double attackScale = 10) : AgentFaults
{
    public static readonly IReadOnlyList<string> Attacks = ["sign-flip", "scale", "noise", "label-flip"];

    public bool DropsOut(string deviceId, string roundId) => Draw(deviceId, roundId, 1) < dropout;

    public TimeSpan ReportDelay(string deviceId, string roundId) =>
        (Draw(deviceId, roundId, 2) < stragglerProbability ? stragglerDelay : TimeSpan.Zero) + (IsSlow(deviceId) ? slowDelay : TimeSpan.Zero);

    public bool IsSlow(string deviceId) => Draw(deviceId, "slow", 3) < slowFraction;

    public bool IsByzantine(string deviceId) => Draw(deviceId, "byzantine", 4) < byzantineFraction;

    /// <summary>True for Byzantine devices whose attack is poisoned labels.</summary>
    public bool FlipsLabels(string deviceId) => attack == "label-flip" && IsByzantine(deviceId);

    public void TamperUpdate(string deviceId, string roundId, Span<float> delta)
    {
        if (!IsByzantine(deviceId)) return;
        switch (attack)
        {
            case "sign-flip":
                System.Numerics.Tensors.TensorPrimitives.Multiply(delta, (float)-attackScale, delta);
                break;
            case "scale":
                System.Numerics.Tensors.TensorPrimitives.Multiply(delta, (float)attackScale, delta);
                break;
            case "noise":
                var random = new Random(StableHash.Seed((ulong)seed, $"noise/{deviceId}/{roundId}"));
                for (var i = 0; i < delta.Length; i++)
                {
                    var u1 = 1.0 - random.NextDouble();
                    delta[i] = (float)(attackScale * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * random.NextDouble()));
                }

                break;
        }
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<ulong, string> _broken = new();

    /// <summary>Makes <paramref name="version"/> fail to load on devices tagged <c>hw=<paramref name="hardwareClass"/></c>.</summary>
    public void BreakOn(ulong version, string hardwareClass) => _broken[version] = hardwareClass;

    public override bool FailsToLoad(string deviceId, IReadOnlyDictionary<string, string> tags, ulong version) =>
        _broken.TryGetValue(version, out var hardware) && tags.TryGetValue("hw", out var hw) && hw == hardware;

    private double Draw(string deviceId, string roundId, int stream) =>
        (StableHash.Fnv1a64($"{seed}/{stream}/{deviceId}/{roundId}") >> 11) * (1.0 / (1UL << 53));
}
