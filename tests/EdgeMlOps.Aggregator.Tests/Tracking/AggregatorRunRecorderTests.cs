using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Aggregator.Tracking;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Aggregator.Tests.Tracking;

/// <summary>The aggregator's own training run, recorded round by round in its data directory.</summary>
public sealed class AggregatorRunRecorderTests
{
    [Fact]
    public async Task EveryRoundThatRan_IsRecorded_WithContributorsSamplesAndAHashPerTensor()
    {
        var dir = AggregatorFixture.TempDirectory();
        await using var node = new AggregatorNode(AggregatorFixture.Options(dir, clients: 2));
        await node.StartAsync(CancellationToken.None);
        await using var a = new ScriptedDevice("dev-a", "test", node);
        await using var b = new ScriptedDevice("dev-b", "test", node);
        await a.ConnectAsync(30);
        await b.ConnectAsync(10);
        await Eventually.Until(() => node.Devices.Eligible().Count == 2, "both devices eligible");

        var round = node.RunRoundAsync(CancellationToken.None);
        var taskA = await a.NextTaskAsync(TimeSpan.FromSeconds(10));
        var taskB = await b.NextTaskAsync(TimeSpan.FromSeconds(10));
        await a.PublishAsync("update", a.Update(taskA, 1f, 30));
        await b.PublishAsync("update", b.Update(taskB, 2f, 10));
        var report = await round;
        Assert.Equal(RoundStatus.Completed, report.Status);

        var record = Assert.Single(new RunStore(node.Runs.Directory).All());
        Assert.Equal(node.Runs.Id, record.Id);
        Assert.Equal("aggregator", record.Kind);
        Assert.Equal("mlp-4-3-2", record.Model.Spec);
        Assert.Equal(record.Model.Spec, record.Parameters["model.spec"]);
        Assert.True(record.Parameters.ContainsKey("rounds.localEpochs"), string.Join(", ", record.Parameters.Keys));
        Assert.True(record.Parameters.ContainsKey("strategy.name"));
        var r = Assert.Single(record.Rounds);
        Assert.Equal(new Dictionary<string, long> { ["dev-a"] = 30, ["dev-b"] = 10 }, r.Contributions);
        Assert.Equal((2, 40L), (record.Data.Devices, record.Data.Samples));
        var version = Assert.Single(record.Versions);
        Assert.Equal(report.NewVersion, version.Version);
        var weights = ClassifierGraphs.ReadWeights(ClassifierGraphs.Parse(node.Artifacts.Read(node.CurrentVersion.InferenceSha256)));
        Assert.Equal(RunFacts.TensorHashes(weights), version.Tensors);
    }

    [Fact]
    public void ALongRun_KeepsItsNewestRounds_AndCountsTheRest()
    {
        var dir = AggregatorFixture.TempDirectory();
        var options = AggregatorFixture.Options(dir, clients: 1);
        using var registry = new EdgeMlOps.Aggregator.Registry.ModelRegistry(Path.Combine(dir, "registry.db"));
        var recorder = new AggregatorRunRecorder(options, registry, new EdgeMlOps.Aggregator.Registry.ArtifactStore(Path.Combine(dir, "artifacts")), TimeProvider.System);
        for (var r = 1; r <= AggregatorRunRecorder.MaxRecordedRounds + 2; r++)
        {
            recorder.Round(new RoundReport(r, "round-" + r, RoundStatus.Abandoned, 1, null, 2, 2, 2, 0, 0, 0, new Dictionary<string, long>(), null, null, double.NaN, 0, TimeSpan.Zero));
        }

        var record = Assert.Single(new RunStore(recorder.Directory).All());
        Assert.Equal(AggregatorRunRecorder.MaxRecordedRounds, record.Rounds.Count);
        Assert.Equal(2, record.OmittedRounds);
        Assert.Equal(3, record.Rounds[0].Round);
    }
}
