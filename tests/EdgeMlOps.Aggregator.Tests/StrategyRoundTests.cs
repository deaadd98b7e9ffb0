using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests;

/// <summary>Strategies through the real aggregator over MQTT, with scripted devices.</summary>
public class StrategyRoundTests
{
    private static readonly ParameterLayout Layout = ParameterLayout.For(AggregatorFixture.Spec);

    [Fact]
    public async Task ServerOptimizerState_SurvivesARestart()
    {
        var dir = AggregatorFixture.TempDirectory();
        var options = AggregatorFixture.Options(dir, clients: 1) with { Strategy = new StrategyOptions { Name = "fedadam", Eta = 0.05 } };
        IReadOnlyList<float[]> saved;
        await using (var node = new AggregatorNode(options))
        {
            await node.StartAsync(CancellationToken.None);
            await using var device = new ScriptedDevice("d", "test", node);
            await device.ConnectAsync(5);
            await Eventually.Until(() => node.Devices.Eligible().Count == 1, "device eligible");
            var round = node.RunRoundAsync(CancellationToken.None);
            var task = await device.NextTaskAsync(TimeSpan.FromSeconds(10));
            await device.PublishAsync("update", device.Update(task, 0.5f));
            Assert.Equal(RoundStatus.Completed, (await round).Status);
            saved = node.Strategy.SaveState();
            Assert.Equal(2, saved.Count);
        }

        await using var restarted = new AggregatorNode(options);
        await restarted.StartAsync(CancellationToken.None);
        var restored = restarted.Strategy.SaveState();
        Assert.Equal(saved.Count, restored.Count);
        for (var i = 0; i < saved.Count; i++) Assert.Equal(saved[i], restored[i]);
    }

    [Fact]
    public async Task DpRound_RefusesNormsFarBeyondTheClip_ClipsTheRest_AndReportsPrivacySpent()
    {
        var dir = AggregatorFixture.TempDirectory();
        var options = AggregatorFixture.Options(dir, clients: 2, deadlineSeconds: 4, quorum: 0.5) with
        {
            Strategy = new StrategyOptions { Dp = new DpOptions { NoiseMultiplier = 0, ClipNorm = 1, RejectNormAboveClips = 10 } },
        };
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        var before = node.CurrentWeights.Values.ToArray();
        await using var a = new ScriptedDevice("a", "test", node);
        await using var b = new ScriptedDevice("b", "test", node);
        await a.ConnectAsync(5);
        await b.ConnectAsync(500);
        await Eventually.Until(() => node.Devices.Eligible().Count == 2, "both eligible");

        var round = node.RunRoundAsync(CancellationToken.None);
        var taskA = await a.NextTaskAsync(TimeSpan.FromSeconds(10));
        var taskB = await b.NextTaskAsync(TimeSpan.FromSeconds(10));
        var huge = (float)(50 / Math.Sqrt(Layout.TotalLength)); // norm 50 > 10 clips
        var twice = (float)(2 / Math.Sqrt(Layout.TotalLength)); // norm 2: clipped to 1
        await a.PublishAsync("update", a.Update(taskA, huge));
        await b.PublishAsync("update", b.Update(taskB, twice, samples: 500));

        var report = await round;
        Assert.Equal(RoundStatus.Completed, report.Status);
        Assert.Equal(1, report.Contributors);
        Assert.Equal(1, node.Rejections[RejectionReason.NormTooLarge]);

        // Clipped to half, divided by the round's target of 2 whatever its 500 samples.
        var after = node.CurrentWeights.Values;
        for (var i = 0; i < after.Length; i++) Assert.Equal(before[i] + twice / 2 / 2, after[i], 5);
        Assert.Equal(1.0, report.Notes["dp.clip_norm"]);
        Assert.True(report.Notes.ContainsKey("dp.epsilon"));
        Assert.Contains("dp.clip_norm", node.Registry.Rounds("tiny")[0].Notes!.Keys);

        // Operators see the strategy and the privacy spent over HTTP (ε is infinite without noise: left out, not NaN).
        using var http = Viewer.Client(node.ArtifactBaseUrl);
        var strategy = await http.GetStringAsync("/v1/strategy");
        Assert.Contains("DP-FedAvg", strategy, StringComparison.Ordinal);
        Assert.Contains("dp.clip_norm", strategy, StringComparison.Ordinal);
        var rounds = await http.GetStringAsync("/v1/models/tiny/rounds");
        Assert.Contains("dp.share_under_clip", rounds, StringComparison.Ordinal);

        // The version's model card says so: clipped, but without noise there is no guarantee.
        var card = EdgeMlOps.Aggregator.Governance.ModelCard.Build(node.Registry, node.Options, node.Monitor, node.Registry.Version("tiny", report.NewVersion!.Value)!).Markdown;
        Assert.Contains("without noise: no differential-privacy guarantee", card, StringComparison.Ordinal);
    }

    [Fact]
    public void ModelCard_PrivacyCaveat_ReportsEpsilonAtDelta_OnlyForDpRounds()
    {
        Assert.Null(EdgeMlOps.Aggregator.Governance.ModelCard.PrivacyCaveat(null));
        Assert.Null(EdgeMlOps.Aggregator.Governance.ModelCard.PrivacyCaveat(new Dictionary<string, double> { ["krum.kept"] = 1 }));
        var caveat = EdgeMlOps.Aggregator.Governance.ModelCard.PrivacyCaveat(new Dictionary<string, double> { ["dp.clip_norm"] = 1, ["dp.epsilon"] = 7.523, ["dp.delta"] = 1e-5 });
        Assert.Equal("Trained with user-level differential privacy (DP-FedAvg): epsilon 7.52 at delta 1E-05 spent by the round that made this version.", caveat);
    }

    [Fact]
    public async Task Buffered_PublishesEveryKUpdates_AndRefusesUpdatesBeyondTheStalenessCap()
    {
        var dir = AggregatorFixture.TempDirectory();
        var options = AggregatorFixture.Options(dir, clients: 2) with
        {
            Rounds = AggregatorFixture.Options(dir, clients: 2).Rounds with { Mode = RoundMode.Buffered, BufferSize = 1, Concurrency = 2, StalenessCap = 0 },
        };
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        await using var fast = new ScriptedDevice("fast", "test", node);
        await using var slow = new ScriptedDevice("slow", "test", node);
        await fast.ConnectAsync(5);
        await slow.ConnectAsync(5);
        await Eventually.Until(() => node.Devices.Eligible().Count == 2, "both eligible");

        var run = node.RunBufferedAsync(versions: 2, CancellationToken.None);
        var first = await fast.NextTaskAsync(TimeSpan.FromSeconds(10));
        var slowTask = await slow.NextTaskAsync(TimeSpan.FromSeconds(10));
        Assert.NotEqual(first.RoundId, slowTask.RoundId);
        Assert.Equal(1UL, first.BaseVersion);

        await fast.PublishAsync("update", fast.Update(first, 0.1f));
        var second = await fast.NextTaskAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(2UL, second.BaseVersion);

        // The slow device answers for v1 after v2 exists: one version stale, over the cap of 0.
        await slow.PublishAsync("update", slow.Update(slowTask, 0.1f));
        await Eventually.Until(() => node.Rejections[RejectionReason.Stale] == 1, "stale update refused");
        await fast.PublishAsync("update", fast.Update(second, 0.1f));

        var reports = await run;
        Assert.Equal(2, reports.Count);
        Assert.Equal([2UL, 3UL], reports.Select(r => r.NewVersion!.Value));
        Assert.Equal(3UL, node.CurrentVersion.Version);
        Assert.All(reports, r => Assert.Equal(1, r.Contributors));
    }
}
