using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Shared.Federated.Presets;

/// <summary>Krum (Blanchard et al. 2017): keeps the one update closest to its n − f − 2 neighbours.</summary>
public sealed class Krum : StrategyPreset
{
    public override string Name => "krum";

    public override AggregationRule Rule => AggregationRule.Krum;

    public override IUpdateCombiner CreateCombiner(StrategyOptions options, RoundContext context, ParameterLayout layout) =>
        new KrumCombiner(layout.TotalLength, options.ByzantineClients, keep: 1, options.BucketSize, BucketSeed(context));

    public override string DescribeRule(StrategyOptions options) => FormattableString.Invariant($"krum (f={options.ByzantineClients})");
}

/// <summary>Multi-Krum: averages the m best-scored updates, by default the round's inputs (updates, or buckets) less f.</summary>
public sealed class MultiKrum : StrategyPreset
{
    public override string Name => "multikrum";

    public override AggregationRule Rule => AggregationRule.Krum;

    public override IUpdateCombiner CreateCombiner(StrategyOptions options, RoundContext context, ParameterLayout layout) =>
        new KrumCombiner(layout.TotalLength, options.ByzantineClients, Keeps(options, context), options.BucketSize, BucketSeed(context));

    public override string DescribeRule(StrategyOptions options) => FormattableString.Invariant($"multi-krum (f={options.ByzantineClients})");

    /// <summary>How many best-scored inputs are averaged.</summary>
    public static int Keeps(StrategyOptions options, RoundContext context)
    {
        if (options.MultiKrumKeep > 0) return options.MultiKrumKeep;
        var inputs = (context.Target + options.BucketSize - 1) / options.BucketSize;
        return Math.Max(1, inputs - options.ByzantineClients);
    }
}
