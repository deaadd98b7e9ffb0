namespace EdgeMlOps.Agent;

/// <summary>
/// A device whose hardware cannot run some versions (a model that crashes on one NPU class): the one
/// device fault a simulator injects below the agent's model loading. Wire faults (dropouts,
/// stragglers, Byzantine updates) live in the simulator's channel decorators, not here.
/// Default: every version loads.
/// </summary>
public class AgentFaults
{
    public static readonly AgentFaults None = new();

    /// <summary>True if loading this version crashes on this device.</summary>
    public virtual bool FailsToLoad(string deviceId, IReadOnlyDictionary<string, string> tags, ulong version) => false;
}
