using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Shared.Federated.Presets;

/// <summary>
/// One named strategy (Flower's names): how a round's updates combine and which server optimizer moves the weights
/// by default. <see cref="StandardStrategy"/> runs any of them; <see cref="StrategyCatalog"/> finds them by name.
/// Adding a strategy is a class here, a line in the catalog and its tests.
/// </summary>
public abstract class StrategyPreset
{
    /// <summary>The name <c>Strategy:Name</c> and <c>--strategy</c> take.</summary>
    public abstract string Name { get; }

    /// <summary>How updates combine (robust rules buffer the round's updates; a mean streams them).</summary>
    public virtual AggregationRule Rule => AggregationRule.Mean;

    /// <summary>The server optimizer when <see cref="StrategyOptions.ServerOptimizer"/> is not set.</summary>
    public virtual string ServerOptimizer => "sgd";

    /// <summary>FedProx μ when <see cref="StrategyOptions.ProximalMu"/> is 0.</summary>
    public virtual double DefaultProximalMu => 0;

    /// <summary>The combiner of one round.</summary>
    public virtual IUpdateCombiner CreateCombiner(StrategyOptions options, RoundContext context, ParameterLayout layout) => new MeanCombiner(layout.TotalLength, exact: options.ExactSum);

    /// <summary>The rule in words, for logs and /v1/strategy.</summary>
    public virtual string DescribeRule(StrategyOptions options) => "weighted mean";

    /// <summary>The seed that shuffles updates into buckets, per round.</summary>
    protected static int BucketSeed(RoundContext context) => StableHash.Seed(context.Seed, $"buckets/round-{context.RoundNumber}");
}
