using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Shared.Federated.Presets;

/// <summary>Coordinate-wise median (Yin et al. 2018), optionally over buckets.</summary>
public sealed class FedMedian : StrategyPreset
{
    public override string Name => "fedmedian";

    public override AggregationRule Rule => AggregationRule.Median;

    public override IUpdateCombiner CreateCombiner(StrategyOptions options, RoundContext context, ParameterLayout layout) =>
        new MedianCombiner(layout.TotalLength, options.MaxParallelism, options.BucketSize, BucketSeed(context));

    public override string DescribeRule(StrategyOptions options) => "coordinate-wise median";
}
