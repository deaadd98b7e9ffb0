using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Tensors;

namespace EdgeMlOps.Shared.Tests.Federated;

public class StrategyTests
{
    private static readonly ParameterLayout Layout = ParameterLayout.For(ModelSpecText.Parse("logreg-200-10"));

    private static ModelUpdate Update(string round, float value, ulong samples = 10, ulong baseVersion = 1)
    {
        var update = new ModelUpdate { Header = ProtocolInfo.NewHeader("f", "d", 1, 0), RoundId = round, ModelName = "m", BaseVersion = baseVersion, SampleCount = samples };
        update.Delta.AddRange(TensorCodec.Encode(Layout, Enumerable.Repeat(value, Layout.TotalLength).ToArray()));
        return update;
    }

    private static double Norm(float value) => Math.Abs(value) * Math.Sqrt(Layout.TotalLength);

    [Fact]
    public void ConfigureFit_CarriesProximalMuAndCompression_AndSelectsReproducibly()
    {
        var strategy = StandardStrategy.Create(new StrategyOptions { Name = "fedprox", Compression = CompressionSettings.Parse("topk:0.01") });
        var ids = Enumerable.Range(0, 50).Select(i => $"d{i}").ToArray();
        var context = new RoundContext(3, 50, 5, 7, 42);
        var fit = strategy.ConfigureFit(context, ids, new TrainConfig { LocalEpochs = 2 });
        Assert.Equal(0.01f, fit.Config.ProximalMu);
        Assert.Equal(TensorEncoding.SparseTopK, fit.Config.UpdateEncoding);
        Assert.Equal(2u, fit.Config.LocalEpochs);
        Assert.Equal(7, fit.Selected.Distinct().Count());
        Assert.Equal(fit.Selected, strategy.ConfigureFit(context, ids, new TrainConfig()).Selected);
        Assert.NotEqual(fit.Selected, strategy.ConfigureFit(context with { RoundNumber = 4 }, ids, new TrainConfig()).Selected);
    }

    [Fact]
    public void ServerOptimizer_IsThePresetsUnlessSet_AndPairsWithARobustRule()
    {
        Assert.StartsWith("fedavgm(", new StandardStrategy(new StrategyOptions { Name = "fedavgm" }).Optimizer.Name, StringComparison.Ordinal);
        Assert.StartsWith("sgd(", new StandardStrategy(new StrategyOptions { Name = "krum" }).Optimizer.Name, StringComparison.Ordinal);
        var krum = new StandardStrategy(new StrategyOptions { Name = "krum", ServerOptimizer = "momentum", ServerLearningRate = 0.1, Momentum = 0.5 });
        Assert.StartsWith("fedavgm(lr=0.1, momentum=0.5)", krum.Optimizer.Name, StringComparison.Ordinal);
        Assert.IsType<KrumCombiner>(krum.CreateCombiner(new RoundContext(1, 10, 10, 10, 1), Layout));

        // Momentum carries earlier rounds' kept updates into this round's step: 0.1 · (1 + 0.5) after two equal deltas.
        var weights = new float[3];
        krum.Apply(weights, [1f, 1f, 1f]);
        krum.Apply(weights, [1f, 1f, 1f]);
        Assert.Equal(0.1f + 0.15f, weights[0], 5);
        Assert.Contains(new StrategyOptions { ServerOptimizer = "nesterov" }.Errors(), e => e.Contains("nesterov", StringComparison.Ordinal));
    }

    [Fact]
    public void Krum_ReportsWhatItKept_AndHowLongTheKeptUpdateIsAgainstTheRound()
    {
        var strategy = StandardStrategy.Create(new StrategyOptions { Name = "krum", ByzantineClients = 2 });
        var values = new[] { 0.9f, 1.0f, 1.0f, 1.1f, 1.2f, -10f, -10f };
        var ids = values.Select((_, i) => $"d{i}").ToArray();
        var round = new RoundAccumulator("r", "m", 1, Layout, ids, strategy, new RoundContext(1, 7, 7, 7, 1));
        for (var i = 0; i < values.Length; i++) Assert.True(round.Offer(ids[i], Update("r", values[i])).Accepted);
        var aggregate = round.Close();

        // Scores over the 7 − 2 − 2 = 3 nearest: a 1.0 update has 0.01 + 0.01 (+ 0), the best; the flipped pair is far from all.
        Assert.All(aggregate.MeanDelta, v => Assert.Equal(1.0f, v, 6));
        Assert.Equal(7, aggregate.Notes["krum.inputs"]);
        Assert.Equal(1, aggregate.Notes["krum.kept"]);

        // Norms 0.9 … 1.2 and two of 10 (times √length): the median is 1.1, so the kept 1.0 is 1/1.1 of it.
        Assert.Equal(1.0 / 1.1, aggregate.Notes["krum.kept_norm_ratio"], 5);
    }

    [Fact]
    public void Options_ListEveryError()
    {
        var errors = new StrategyOptions { Name = "fedfoo", TrimBeta = 0.7, Dp = new DpOptions { ClipNorm = -1 } }.Errors().ToList();
        Assert.Contains(errors, e => e.Contains("fedfoo", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("TrimBeta", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("ClipNorm", StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => new StandardStrategy(new StrategyOptions { Name = "fedmedian", Dp = new DpOptions() }));
        Assert.Contains(new StrategyOptions { BucketSize = 2 }.Errors(), e => e.Contains("BucketSize applies to", StringComparison.Ordinal));
        Assert.Contains(new StrategyOptions { Name = "krum", BucketSize = 0 }.Errors(), e => e.Contains("BucketSize must be", StringComparison.Ordinal));
        Assert.Empty(new StrategyOptions { Name = "krum", BucketSize = 2 }.Errors());
    }

    [Fact]
    public void Dp_ClipsEachUpdate_CountsThemEqually_AndAddsCalibratedNoise()
    {
        var dp = new DpOptions { NoiseMultiplier = 0, ClipNorm = 1.0, NoiseSeed = 1 };
        var strategy = (DifferentiallyPrivateStrategy)StandardStrategy.Create(new StrategyOptions { Dp = dp });
        var context = new RoundContext(1, 100, 4, 4, 1);
        var round = new RoundAccumulator("r", "m", 1, Layout, ["a", "b", "c"], strategy, context);
        Assert.True(round.Offer("a", Update("r", 1f, samples: 1000)).Accepted); // norm ≫ C: clipped to 1
        Assert.True(round.Offer("b", Update("r", 0.001f, samples: 1)).Accepted); // under C: kept
        var aggregate = round.Close();

        // Fixed denominator (the target, 4) and unit weights: sample counts no longer matter.
        var expected = (1f / (float)Norm(1f) + 0.001f) / 4;
        Assert.All(aggregate.MeanDelta, v => Assert.Equal(expected, v, 6));
        Assert.Equal(0.5, aggregate.Notes["dp.share_under_clip"]);

        // With noise: the per-coordinate spread is z·C/target.
        var noisy = (DifferentiallyPrivateStrategy)StandardStrategy.Create(new StrategyOptions { Dp = dp with { NoiseMultiplier = 2.0 } });
        var noisyRound = new RoundAccumulator("r", "m", 1, Layout, ["a"], noisy, context);
        noisyRound.Offer("a", Update("r", 0f));
        var values = noisyRound.Close().MeanDelta;
        var std = Math.Sqrt(values.Select(v => (double)v * v).Average());
        Assert.Equal(2.0 * 1.0 / 4, std, 0.05);
        Assert.True(noisy.Epsilon > 0);
    }

    [Fact]
    public void Dp_UnderQuorum_NothingIsReleased_SoNoPrivacyIsSpent()
    {
        var strategy = (DifferentiallyPrivateStrategy)StandardStrategy.Create(new StrategyOptions { Dp = new DpOptions { NoiseSeed = 1 } });
        var round = new RoundAccumulator("r", "m", 1, Layout, ["a", "b"], strategy, new RoundContext(1, 100, 2, 2, 1));
        Assert.True(round.Offer("a", Update("r", 0.001f)).Accepted);
        var abandoned = round.Close(quorum: 2);
        Assert.Equal(1, abandoned.Contributors);
        Assert.All(abandoned.MeanDelta, v => Assert.Equal(0f, v));
        Assert.Equal(0, strategy.Accountant.Steps);
        Assert.Equal(0, strategy.Epsilon);
    }

    [Fact]
    public void Dp_RefusesNormsFarBeyondTheClip_AndStopsAtTheBudget()
    {
        var strategy = StandardStrategy.Create(new StrategyOptions { Dp = new DpOptions { NoiseMultiplier = 1.0, ClipNorm = 0.1, RejectNormAboveClips = 100, EpsilonBudget = 2, NoiseSeed = 1 } });
        var context = new RoundContext(1, 1000, 10, 10, 1);
        var round = new RoundAccumulator("r", "m", 1, Layout, ["a"], strategy, context);
        Assert.Equal(RejectionReason.NormTooLarge, round.Offer("a", Update("r", 1f)).Reason);

        var rounds = 0;
        while (strategy.StopReason(context) is null)
        {
            var r = new RoundAccumulator($"r{rounds}", "m", 1, Layout, ["a"], strategy, context);
            r.Offer("a", Update($"r{rounds}", 0.0001f));
            r.Close();
            rounds++;
        }

        var epsilon = ((DifferentiallyPrivateStrategy)strategy).Epsilon;
        Assert.True(epsilon <= 2, $"spent {epsilon}");
        Assert.True(rounds > 5);
        Assert.Contains("privacy budget", strategy.StopReason(context));
    }

    [Fact]
    public void Dp_AdaptiveClip_MovesTowardsTheTargetQuantile_AndStateRoundTrips()
    {
        var options = new StrategyOptions { Dp = new DpOptions { NoiseMultiplier = 0.5, ClipNorm = 100, AdaptiveClipping = true, ClippedCountStddev = 1, NoiseSeed = 3 } };
        var strategy = (DifferentiallyPrivateStrategy)StandardStrategy.Create(options);
        var context = new RoundContext(1, 100, 10, 10, 1);
        for (var r = 0; r < 30; r++)
        {
            var round = new RoundAccumulator($"r{r}", "m", 1, Layout, Enumerable.Range(0, 10).Select(i => $"d{i}"), strategy, context);
            for (var i = 0; i < 10; i++) round.Offer($"d{i}", Update($"r{r}", 0.01f * (i + 1)));
            round.Close();
        }

        // Norms run from 0.45 to 4.5; the median update norm is about 2.5.
        Assert.InRange(strategy.ClipNorm, 0.5, 10);
        var restored = (DifferentiallyPrivateStrategy)StandardStrategy.Create(options);
        Assert.True(restored.RestoreState(strategy.SaveState(), Layout.TotalLength));
        Assert.Equal(strategy.ClipNorm, restored.ClipNorm, 4);
        Assert.Equal(strategy.Epsilon, restored.Epsilon, 4);
    }

    [Fact]
    public void FedBuff_DiscountsStaleUpdates_RefusesBeyondTheCap_AndReplays()
    {
        var strategy = StandardStrategy.Create(new StrategyOptions());
        var buffer = new AsyncUpdateBuffer("m", Layout, strategy, bufferSize: 2, stalenessCap: 2, new RoundContext(1, 10, 2, 2, 1));
        buffer.SetCurrentVersion(4);
        buffer.Issue("t1", "a", 4);
        buffer.Issue("t2", "b", 1);
        buffer.Issue("t3", "c", 3);
        Assert.True(buffer.Offer("a", Update("t1", 1f, baseVersion: 4)).Accepted);
        Assert.Equal(RejectionReason.Stale, buffer.Offer("b", Update("t2", 5f, baseVersion: 1)).Reason);
        Assert.Equal(RejectionReason.NotSelected, buffer.Offer("a", Update("t3", 5f, baseVersion: 3)).Reason);
        Assert.True(buffer.Offer("c", Update("t3", 4f, baseVersion: 3)).Accepted);
        Assert.Equal(RejectionReason.UnknownRound, buffer.Offer("c", Update("t3", 4f, baseVersion: 3)).Reason);
        Assert.True(buffer.IsFull);

        var aggregate = buffer.Flush(new RoundContext(2, 10, 2, 2, 1));
        var stale = Math.Pow(2, -0.5);
        Assert.All(aggregate.MeanDelta, v => Assert.Equal((1 + 4 * stale) / (1 + stale), v, 5));
        Assert.Equal(0.5, aggregate.Notes["fedbuff.mean_staleness"]);
        Assert.Equal(0, buffer.Buffered);
    }
}
