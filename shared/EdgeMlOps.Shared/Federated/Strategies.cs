using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Shared.Federated;

/// <summary>
/// The strategies of <see cref="StrategyOptions.Names"/>: an aggregation rule (mean, median,
/// trimmed mean, Krum) and a server optimizer (SGD, momentum, Adam, Yogi, Adagrad), plus the
/// FedProx term and the update encoding carried in each device's train config.
/// </summary>
public sealed class StandardStrategy : FederatedStrategy
{
    private readonly StrategyOptions _options;
    private readonly ServerOptimizer _optimizer;
    private readonly double _proximalMu;

    public StandardStrategy(StrategyOptions options)
    {
        var errors = options.Errors().ToList();
        if (errors.Count > 0) throw new ArgumentException(string.Join("; ", errors), nameof(options));
        _options = options;
        _proximalMu = options.ProximalMu > 0 ? options.ProximalMu : options.Name == "fedprox" ? 0.01 : 0;
        _optimizer = options.EffectiveServerOptimizer switch
        {
            "momentum" => new MomentumServerOptimizer(options.ServerLearningRate, options.Momentum),
            "adam" => new AdaptiveServerOptimizer(AdaptiveRule.Adam, options.Eta, options.Beta1, options.Beta2, options.Tau),
            "yogi" => new AdaptiveServerOptimizer(AdaptiveRule.Yogi, options.Eta, options.Beta1, options.Beta2, options.Tau),
            "adagrad" => new AdaptiveServerOptimizer(AdaptiveRule.Adagrad, options.Eta, 0, options.Beta2, options.Tau),
            _ => new SgdServerOptimizer(options.ServerLearningRate),
        };
    }

    public ServerOptimizer Optimizer => _optimizer;

    public override string Describe()
    {
        var rule = _options.Rule switch
        {
            AggregationRule.Median => "coordinate-wise median",
            AggregationRule.TrimmedMean => FormattableString.Invariant($"trimmed mean (beta={_options.TrimBeta})"),
            AggregationRule.Krum => FormattableString.Invariant($"{(_options.Name == "multikrum" ? "multi-krum" : "krum")} (f={_options.ByzantineClients})"),
            _ => "weighted mean",
        };
        if (_options.BucketSize > 1) rule += FormattableString.Invariant($" over buckets of {_options.BucketSize}");
        return FormattableString.Invariant($"{_options.Name}: {rule}, server {_optimizer.Name}, mu={_proximalMu}, updates {_options.Compression}");
    }

    public override FitInstructions ConfigureFit(RoundContext context, IReadOnlyList<string> eligible, TrainConfig baseConfig)
    {
        var config = baseConfig.Clone();
        config.ProximalMu = (float)_proximalMu;
        config.UpdateEncoding = _options.Compression.Encoding;
        config.TopKFraction = _options.Compression.TopKFraction;
        config.ErrorFeedback = _options.Compression.ErrorFeedback;
        return new FitInstructions(SampleSeeded(eligible, context.SelectCount, context.Seed, $"selection/round-{context.RoundNumber}"), config);
    }

    public override IUpdateCombiner CreateCombiner(RoundContext context, ParameterLayout layout)
    {
        var buckets = _options.BucketSize;
        var seed = StableHash.Seed(context.Seed, $"buckets/round-{context.RoundNumber}");
        return _options.Rule switch
        {
            AggregationRule.Median => new MedianCombiner(layout.TotalLength, _options.MaxParallelism, buckets, seed),
            AggregationRule.TrimmedMean => new TrimmedMeanCombiner(layout.TotalLength, _options.TrimBeta, _options.MaxParallelism, buckets, seed),
            AggregationRule.Krum => new KrumCombiner(layout.TotalLength, _options.ByzantineClients, KrumKeeps(context), buckets, seed),
            _ => new MeanCombiner(layout.TotalLength),
        };
    }

    /// <summary>Krum keeps 1; Multi-Krum m, by default the round's inputs (updates, or buckets) less f.</summary>
    private int KrumKeeps(RoundContext context)
    {
        if (_options.Name != "multikrum") return 1;
        if (_options.MultiKrumKeep > 0) return _options.MultiKrumKeep;
        var inputs = (context.Target + _options.BucketSize - 1) / _options.BucketSize;
        return Math.Max(1, inputs - _options.ByzantineClients);
    }

    public override double? MaxUpdateNorm => _options.MaxUpdateNorm > 0 ? _options.MaxUpdateNorm : null;

    public override Contribution Weigh(string deviceId, ModelUpdate update, double norm, long staleness)
    {
        var weight = (double)update.SampleCount;
        if (staleness > 0) weight *= Math.Pow(1 + staleness, -_options.StalenessExponent);
        return new Contribution(deviceId, weight, 1.0, (long)update.SampleCount);
    }

    public override float[] Combine(RoundContext context, IUpdateCombiner combiner, StrategyNotes notes)
    {
        var delta = combiner.Combine();
        if (combiner is KrumCombiner krum)
        {
            notes["krum.inputs"] = krum.Inputs;
            notes["krum.kept"] = krum.Kept.Count;
            notes["krum.kept_norm_ratio"] = krum.KeptNormRatio;
        }

        return delta;
    }

    public override void Apply(Span<float> weights, ReadOnlySpan<float> delta) => _optimizer.Step(weights, delta);

    public override string? StopReason(RoundContext next) => null;

    public override FitInstructions ConfigureEvaluate(RoundContext context, IReadOnlyList<string> eligible, TrainConfig baseConfig) =>
        new(SampleSeeded(eligible, context.SelectCount, context.Seed, $"evaluation/round-{context.RoundNumber}"), baseConfig.Clone());

    public override EvaluationSummary AggregateEvaluate(IReadOnlyList<EvaluationResult> results)
    {
        long samples = 0;
        double loss = 0, correct = 0;
        foreach (var r in results)
        {
            if (r.SampleCount == 0 || !double.IsFinite(r.Loss) || !double.IsFinite(r.Accuracy)) continue;
            samples += (long)r.SampleCount;
            loss += r.Loss * r.SampleCount;
            correct += r.Accuracy * r.SampleCount;
        }

        return samples == 0
            ? new EvaluationSummary(results.Count, 0, double.NaN, double.NaN)
            : new EvaluationSummary(results.Count, samples, loss / samples, correct / samples);
    }

    public override IReadOnlyList<float[]> SaveState() => _optimizer.SaveState();

    public override bool RestoreState(IReadOnlyList<float[]> state, int length) => _optimizer.RestoreState(state, length);

    /// <summary>The configured strategy, wrapped in DP when <see cref="StrategyOptions.Dp"/> is set.</summary>
    public static FederatedStrategy Create(StrategyOptions options) =>
        options.Dp is { } dp ? new DifferentiallyPrivateStrategy(new StandardStrategy(options), dp) : new StandardStrategy(options);
}
