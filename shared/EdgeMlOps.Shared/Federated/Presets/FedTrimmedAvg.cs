using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Shared.Federated.Presets;

/// <summary>Coordinate-wise β-trimmed mean (Yin et al. 2018), optionally over buckets.</summary>
public sealed class FedTrimmedAvg : StrategyPreset
{
    public override string Name => "fedtrimmedavg";

    public override AggregationRule Rule => AggregationRule.TrimmedMean;

    public override IUpdateCombiner CreateCombiner(StrategyOptions options, RoundContext context, ParameterLayout layout) =>
        new TrimmedMeanCombiner(layout.TotalLength, options.TrimBeta, options.MaxParallelism, options.BucketSize, BucketSeed(context));

    public override string DescribeRule(StrategyOptions options) => FormattableString.Invariant($"trimmed mean (beta={options.TrimBeta})");
}
