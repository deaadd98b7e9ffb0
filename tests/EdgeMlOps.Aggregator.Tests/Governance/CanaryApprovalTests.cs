using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rollouts;

namespace EdgeMlOps.Aggregator.Tests.Governance;

public sealed class CanaryApprovalTests
{
    [Fact]
    public async Task ValidatedVersion_MayRunTheCanary_ButNotBeyondItWithoutApproval()
    {
        var random = new Random(3);
        var features = Enumerable.Range(0, 400).Select(_ => (float)random.NextDouble()).ToArray();
        var labels = Enumerable.Range(0, 100).Select(i => (long)(i % 2)).ToArray();
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with
        {
            Governance = new GovernanceOptions { Mode = DeploymentMode.Governed },
        };
        await using var node = new AggregatorNode(options, evaluator: new HeldOutEvaluator(features, labels));
        await node.StartAsync(CancellationToken.None);

        // Nothing deployed yet: the first version is validated against nothing, with its cohorts recorded.
        var v1 = node.Registry.Version("tiny", 1)!;
        Assert.Equal(VersionStates.Validated, v1.State);
        Assert.Contains("class=1", node.Registry.Evaluation("tiny", 1), StringComparison.Ordinal);

        var rollout = await node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = 1, Stages = [0.1, 1.0] }, CancellationToken.None);
        var refused = await Assert.ThrowsAsync<GovernanceException>(() => node.Rollouts.AdvanceAsync("bob", rollout.Id, "looks fine", CancellationToken.None));
        Assert.Contains("approval is required", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, node.Rollouts.Current!.Stage);

        node.Governance.Approve("alice", "tiny", 1, "reviewed");
        var advanced = await node.Rollouts.AdvanceAsync("bob", rollout.Id, "approved now", CancellationToken.None);
        Assert.Equal(1, advanced.Stage);
        var completed = await node.Rollouts.AdvanceAsync("bob", rollout.Id, "last stage passed", CancellationToken.None);
        Assert.Equal(RolloutStatusKind.Completed, completed.State);
        Assert.Equal(VersionStates.Deployed, node.Registry.Version("tiny", 1)!.State);
        Assert.Equal(1UL, node.DeployedVersion!.Version);
    }
}
