using EdgeMlOps.Aggregator.Governance;

namespace EdgeMlOps.Aggregator.Tests.Rollouts;

/// <summary>
/// A governed aggregator whose first version is validated (held-out data: it may run a canary, a shadow or an A/B test
/// without approval), rollout gates judged only when a test asks, and one scripted device connected over MQTT.
/// </summary>
public abstract class GovernedFleet : IAsyncLifetime
{
    private protected AggregatorNode Node { get; private set; } = null!;

    private protected ScriptedDevice Device { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var random = new Random(3);
        var features = Enumerable.Range(0, 400).Select(_ => (float)random.NextDouble()).ToArray();
        var labels = Enumerable.Range(0, 100).Select(i => (long)(i % 2)).ToArray();
        Node = new AggregatorNode(
            AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with
            {
                Governance = new GovernanceOptions { Mode = DeploymentMode.Governed, RolloutCheckInterval = TimeSpan.FromHours(1) },
            },
            evaluator: new EdgeMlOps.Aggregator.Evaluation.HeldOutEvaluator(features, labels));
        await Node.StartAsync(CancellationToken.None);
        Device = new ScriptedDevice("d-1", "test", Node);
        await Device.ConnectAsync(5);
        await Eventually.Until(() => Node.Devices.All.Count == 1, "the device known");
    }

    public async Task DisposeAsync()
    {
        await Device.DisposeAsync();
        await Node.DisposeAsync();
    }
}
