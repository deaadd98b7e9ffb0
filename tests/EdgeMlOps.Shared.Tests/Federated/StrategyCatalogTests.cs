using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Federated.Presets;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Shared.Tests.Federated;

/// <summary>Strategies are one type each, found by name; what each name means is stated once, in its class.</summary>
public class StrategyCatalogTests
{
    private static readonly ParameterLayout Layout = ParameterLayout.For(ModelSpecText.Parse("logreg-8-2"));

    [Theory]
    [InlineData("fedavg", AggregationRule.Mean, "sgd", 0.0, typeof(MeanCombiner))]
    [InlineData("fedprox", AggregationRule.Mean, "sgd", 0.01, typeof(MeanCombiner))]
    [InlineData("fedavgm", AggregationRule.Mean, "momentum", 0.0, typeof(MeanCombiner))]
    [InlineData("fedadam", AggregationRule.Mean, "adam", 0.0, typeof(MeanCombiner))]
    [InlineData("fedyogi", AggregationRule.Mean, "yogi", 0.0, typeof(MeanCombiner))]
    [InlineData("fedadagrad", AggregationRule.Mean, "adagrad", 0.0, typeof(MeanCombiner))]
    [InlineData("fedmedian", AggregationRule.Median, "sgd", 0.0, typeof(MedianCombiner))]
    [InlineData("fedtrimmedavg", AggregationRule.TrimmedMean, "sgd", 0.0, typeof(TrimmedMeanCombiner))]
    [InlineData("krum", AggregationRule.Krum, "sgd", 0.0, typeof(KrumCombiner))]
    [InlineData("multikrum", AggregationRule.Krum, "sgd", 0.0, typeof(KrumCombiner))]
    public void EachName_IsOneStrategy_WithItsRuleOptimizerAndCombiner(string name, AggregationRule rule, string optimizer, double mu, Type combiner)
    {
        var preset = StrategyCatalog.Find(name)!;
        var options = new StrategyOptions { Name = name };
        Assert.Equal((name, rule, optimizer, mu), (preset.Name, options.Rule, options.EffectiveServerOptimizer, preset.DefaultProximalMu));
        Assert.IsType(combiner, new StandardStrategy(options).CreateCombiner(new RoundContext(1, 10, 10, 10, 1), Layout));
        Assert.StartsWith(name + ": ", new StandardStrategy(options).Describe());
    }

    [Fact]
    public void TheCatalog_NamesEveryStrategyOnce_AndAnUnknownNameIsAnError()
    {
        Assert.Equal(StrategyCatalog.Names.Count, StrategyCatalog.Names.Distinct().Count());
        Assert.Equal(10, StrategyCatalog.Names.Count);
        Assert.Null(StrategyCatalog.Find("fedsgd"));
        Assert.Contains(new StrategyOptions { Name = "fedsgd" }.Errors(), e => e.StartsWith("Strategy:Name 'fedsgd' is not one of fedavg, fedprox", StringComparison.Ordinal));
    }

    [Fact]
    public void MultiKrum_KeepsTheRoundsInputsLessF_UnlessSet()
    {
        var context = new RoundContext(1, 20, 12, 12, 1);
        Assert.Equal(10, MultiKrum.Keeps(new StrategyOptions { Name = "multikrum", ByzantineClients = 2 }, context));
        Assert.Equal(4, MultiKrum.Keeps(new StrategyOptions { Name = "multikrum", ByzantineClients = 2, BucketSize = 2 }, context)); // 6 buckets less f
        Assert.Equal(3, MultiKrum.Keeps(new StrategyOptions { Name = "multikrum", MultiKrumKeep = 3 }, context));
    }
}
