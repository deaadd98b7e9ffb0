using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Protocol.V1;
using static EdgeMlOps.Simulator.Tests.TrustedInstallTests;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>A real agent shadowing a rollout's version over the real broker: scores without serving, survives a restart, stops on abort.</summary>
[Collection(FleetCollection.Name)]
public class ShadowAgentTests
{
    [Fact]
    public async Task TheAgentShadowsWithoutServing_ReportsToTheGate_ResumesAfterARestart_AndStopsWhenAborted()
    {
        var dir = TempDirectory();
        await using var node = new AggregatorNode(Options(dir, DeploymentMode.Governed));
        await node.StartAsync(CancellationToken.None);
        var agent = TrustedInstallTests.Agent(dir, node, node.Keys.RootPublicKey);
        await agent.StartAsync(CancellationToken.None);
        await DeployV1Async(node);
        await agent.WaitForModelAsync(1, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        var v2 = await ApprovedNextVersionAsync(node);

        var rollout = await node.Rollouts.CreateAsync("bob", new RolloutRequest
        {
            Version = v2.Version, Stages = [1.0], Reason = "shadow",
            Shadow = new ShadowRequest { Share = 1.0, MinScored = 1_000_000 }, // never enough: the shadow runs until aborted
        }, CancellationToken.None);
        await Eventually.Until(() => agent.Rollout is { Phase: RolloutPhase.Shadowing } p && p.RolloutId == rollout.Id, "the agent shadowing", 60);

        var random = new Random(1);
        void Serve(int count)
        {
            for (var i = 0; i < count; i++)
            {
                var x = Enumerable.Range(0, 8).Select(_ => (float)random.NextDouble()).ToArray();
                var served = agent.Predict(x);
                Assert.Equal(1UL, served.ModelVersion); // the incumbent answers every request
                agent.Feedback(served.PredictionId, i % 3);
            }
        }

        Serve(40);
        await Eventually.Until(() => agent.Shadow is { Scored: 40, Labelled: 40 }, "40 requests scored and paired on the device");
        Assert.Equal(v2.Version, agent.Shadow!.CandidateVersion);
        Assert.Equal(1UL, agent.ModelVersion);
        await agent.PublishStatusAsync(CancellationToken.None);
        await Eventually.Until(() => node.Rollouts.View(node.Rollouts.Current!).Shadow is { Scored: 40, Devices: 1 }, "the report at the shadow gate");
        Assert.StartsWith("wait: 40 requests scored on 1 shadow devices", node.Rollouts.View(node.Rollouts.Current!).Gate.Verdict.ToString(), StringComparison.Ordinal);

        // A restart: the device is still in the shadow phase and shadows again (a fresh count), still serving v1.
        await agent.DisposeAsync();
        agent = TrustedInstallTests.Agent(dir, node, node.Keys.RootPublicKey);
        try
        {
            await agent.StartAsync(CancellationToken.None);
            await Eventually.Until(() => agent.Shadow is { } s && s.RolloutId == rollout.Id, "the shadow resumed after the restart", 60);
            Serve(10);
            await Eventually.Until(() => agent.Shadow is { Scored: 10 }, "requests scored after the restart");

            await node.Rollouts.AbortAsync("bob", rollout.Id, "enough", CancellationToken.None);
            await Eventually.Until(() => agent.Rollout is { Phase: RolloutPhase.NotTargeted }, "the shadow ended by the abort", 60);
            Assert.Contains("never served", agent.Rollout!.Reason, StringComparison.Ordinal);
            Serve(10);
            Assert.Equal(10UL, agent.Shadow!.Scored); // the last report stays readable; nothing more is scored
            Assert.Equal(1UL, agent.ModelVersion);
        }
        finally
        {
            await agent.DisposeAsync();
        }
    }
}
