namespace EdgeMlOps.Agent;

/// <summary>
/// Faults a simulator injects into a real agent: dropping out of a round (the device goes
/// quiet after being selected, as 6–10% do in production), straggling, and Byzantine
/// behaviour (an update altered before it is sent). Defaults: none.
/// </summary>
public class AgentFaults
{
    public static readonly AgentFaults None = new();

    /// <summary>True if the device should silently abandon the task for this round.</summary>
    public virtual bool DropsOut(string deviceId, string roundId) => false;

    /// <summary>Extra delay before the device reports its update.</summary>
    public virtual TimeSpan ReportDelay(string deviceId, string roundId) => TimeSpan.Zero;

    /// <summary>Lets a Byzantine device rewrite its delta (sign flip, scaling, noise) before it is encoded.</summary>
    public virtual void TamperUpdate(string deviceId, string roundId, Span<float> delta)
    {
    }

    /// <summary>True if loading this version crashes on this device (a model that does not run on some hardware class).</summary>
    public virtual bool FailsToLoad(string deviceId, IReadOnlyDictionary<string, string> tags, ulong version) => false;
}
