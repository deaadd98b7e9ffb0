using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;

namespace EdgeMlOps.Aggregator.Tests.Storage;

/// <summary>
/// The aggregator stopped between the registry and the audit log (two stores, written one after the other): at the
/// next start they agree again, and in auto mode exactly one version is deployed.
/// </summary>
public class InterruptedCommitTests
{
    /// <summary>Each version's registry state is the state its last audit entry moved it to, and the chain verifies.</summary>
    internal static void AssertRegistryAndAuditAgree(ModelRegistry registry, AuditLog audit, string model)
    {
        var verification = audit.Verify();
        Assert.True(verification.Intact, verification.Problem);
        var entries = audit.Entries($"model/{model}/v");
        foreach (var version in registry.Versions(model))
        {
            var last = entries.LastOrDefault(e => e.Subject == ModelGovernance.Subject(version) && e.After is not null);
            Assert.True(last is not null, $"v{version.Version} has no audit entry");
            Assert.Equal(version.State, last!.After);
        }
    }

    [Fact]
    public async Task AVersionWrittenToTheRegistryButNotAudited_IsAuditedAtStart_AndAutoModeDeploysIt()
    {
        var dir = AggregatorFixture.TempDirectory();
        var options = AggregatorFixture.Options(dir, clients: 1);
        await using (new AggregatorNode(options))
        {
            // v1 registered and deployed
        }

        using (var registry = new ModelRegistry(Path.Combine(dir, "registry.db")))
        {
            // The process died right after writing v2 (its artifacts are v1's, already stored).
            var v1 = registry.Latest("tiny")!;
            registry.AddVersion(v1 with { Version = 2, Parent = 1, Round = 1, State = VersionStates.Candidate, StateReason = null });
        }

        await using var node = new AggregatorNode(options);
        var versions = node.Registry.Versions("tiny");
        Assert.Equal([VersionStates.Archived, VersionStates.Deployed], versions.Select(v => v.State));
        Assert.Equal(2UL, node.DeployedVersion!.Version);
        AssertRegistryAndAuditAgree(node.Registry, node.Audit, "tiny");
        var v2 = node.Audit.Entries("model/tiny/v2");
        Assert.Equal(("version.create", InterruptedCommits.Actor), (v2[0].Action, v2[0].Actor));
        Assert.Contains("the aggregator stopped between the two", v2[0].Reason, StringComparison.Ordinal);
        Assert.Equal(["version.create", "version.approved", "version.deployed"], v2.Select(e => e.Action));
        Assert.Equal(3, node.Stores.Repairs.Count(r => r.Kind == StoreRepair.InterruptedCommit)); // v2 audited, deployed; v1 archived
    }

    [Fact]
    public async Task TwoDeployedVersionsAfterAStopInAutoMode_LeaveOne()
    {
        var dir = AggregatorFixture.TempDirectory();
        var options = AggregatorFixture.Options(dir, clients: 1);
        await using (new AggregatorNode(options))
        {
        }

        using (var registry = new ModelRegistry(Path.Combine(dir, "registry.db")))
        using (var audit = new AuditLog(Path.Combine(dir, "audit.db")))
        {
            // v2 was deployed (and audited); the process died before archiving v1.
            var governance = new ModelGovernance(registry, audit, options.Governance, TimeProvider.System);
            var v1 = registry.Latest("tiny")!;
            registry.AddVersion(v1 with { Version = 2, Parent = 1, Round = 1, State = VersionStates.Candidate, StateReason = null });
            audit.Append(DateTimeOffset.UtcNow, "system:training", "version.create", "model/tiny/v2", "round 1", null, VersionStates.Candidate);
            var v2 = governance.Move(registry.Version("tiny", 2)!, VersionStates.Approved, "system:auto", "auto");
            governance.Move(v2, VersionStates.Deployed, "system:auto", "auto");
        }

        await using var node = new AggregatorNode(options);
        Assert.Equal([VersionStates.Archived, VersionStates.Deployed], node.Registry.Versions("tiny").Select(v => v.State));
        AssertRegistryAndAuditAgree(node.Registry, node.Audit, "tiny");
        Assert.Contains("replaced by v2", node.Audit.Entries("model/tiny/v1")[^1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AGovernedStateChangeTheAuditMissed_IsAudited_AndNothingIsDeployedForIt()
    {
        var dir = AggregatorFixture.TempDirectory();
        var options = AggregatorFixture.Options(dir, clients: 1) with { Governance = new GovernanceOptions { Mode = DeploymentMode.Governed } };
        await using (new AggregatorNode(options))
        {
        }

        using (var registry = new ModelRegistry(Path.Combine(dir, "registry.db")))
        {
            registry.SetState("tiny", 1, VersionStates.Rejected, "rejected by alice"); // the audit append never happened
        }

        await using var node = new AggregatorNode(options);
        Assert.Equal(VersionStates.Rejected, node.Registry.Version("tiny", 1)!.State);
        Assert.Null(node.DeployedVersion);
        AssertRegistryAndAuditAgree(node.Registry, node.Audit, "tiny");
        var repair = node.Audit.Entries("model/tiny/v1")[^1];
        Assert.Equal(("version.rejected", InterruptedCommits.Actor), (repair.Action, repair.Actor));
        Assert.Contains("rejected by alice", repair.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnIntactStore_IsNotTouchedAtStart()
    {
        var dir = AggregatorFixture.TempDirectory();
        var options = AggregatorFixture.Options(dir, clients: 1);
        long entries;
        await using (var node = new AggregatorNode(options)) entries = node.Audit.Verify().Entries;
        await using (var again = new AggregatorNode(options)) Assert.Equal(entries, again.Audit.Verify().Entries);
    }
}
