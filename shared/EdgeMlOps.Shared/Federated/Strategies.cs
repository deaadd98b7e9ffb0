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
    private readonly Presets.StrategyPreset _preset;
    private readonly ServerOptimizer _optimizer;
    private readonly double _proximalMu;

    public StandardStrategy(StrategyOptions options)
    {
        var errors = options.Errors().ToList();
        if (errors.Count > 0) throw new ArgumentException(string.Join("; ", errors), nameof(options));
        _options = options;
        _preset = options.Preset!;
        _proximalMu = options.ProximalMu > 0 ? options.ProximalMu : _preset.DefaultProximalMu;
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
        var rule = _preset.DescribeRule(_options);
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

    public override IUpdateCombiner CreateCombiner(RoundContext context, ParameterLayout layout) => _preset.CreateCombiner(_options, context, layout);

    public override double? MaxUpdateNorm => _options.MaxUpdateNorm > 0 ? _options.MaxUpdateNorm : null;

    public override Contribution Weigh(string deviceId, ModelUpdate update, double norm, long staleness)
    {
        var weight = WeightOf(update.SampleCount);
        if (staleness > 0) weight *= Math.Pow(1 + staleness, -_options.StalenessExponent);
        return new Contribution(deviceId, weight, 1.0, (long)update.SampleCount);
    }

    /// <summary>FedAvg: an update weighs its samples.</summary>
    public override double WeightOf(ulong sampleCount) => sampleCount;

    public override float[] Combine(RoundContext context, IUpdateCombiner combiner, StrategyNotes notes)
    {
        var delta = combiner.Combine();
        combiner.Report(notes);
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
