using EdgeMlOps.Aggregator.Registry;

namespace EdgeMlOps.Aggregator.Pipeline;

/// <summary>How many distinct people must approve a retrained version before its rollout.</summary>
public static class PipelineApprovals
{
    /// <summary>
    /// The policy's count — but never none when the registry's own validation held the version for a person's review
    /// (a large unexplained change): a policy cannot approve what governance asks a person to look at.
    /// </summary>
    public static int Required(int policyApprovals, string registryState) =>
        Math.Max(policyApprovals, registryState == VersionStates.Candidate ? 1 : 0);
}
