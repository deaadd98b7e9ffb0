using EdgeMlOps.Shared.Configuration;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests;

public class MonitoringOptionsTests
{
    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void CategoricalFeatures_AreInputIndices_AndEveryBadOneIsListed()
    {
        var options = AggregatorOptions.FromConfiguration(Config(("Aggregator:Model", "mlp-6-8-3"), ("Aggregator:Monitoring:CategoricalFeatures", "5, 1,1"), ("Aggregator:Monitoring:Drift:Method", "chisquare"), ("Aggregator:Monitoring:MaxProfileBytes", "65536")));
        Assert.Equal([1, 5], options.Monitoring.CategoricalFeatures);
        Assert.Equal(EdgeMlOps.Shared.Monitoring.DriftMethod.ChiSquare, options.Monitoring.Drift.Method);
        Assert.Equal(65536, options.Monitoring.MaxProfileBytes);
        Assert.Empty(AggregatorOptions.FromConfiguration(Config()).Monitoring.CategoricalFeatures);
        Assert.Equal(new Uri("https://alerts.example/hook"), AggregatorOptions.FromConfiguration(Config(("Aggregator:Monitoring:AlertWebhook", "https://alerts.example/hook"))).Monitoring.AlertWebhook);
        Assert.StartsWith("Aggregator:Monitoring:AlertWebhook", Assert.Single(Assert.Throws<OptionsValidationException>(() =>
            AggregatorOptions.FromConfiguration(Config(("Aggregator:Monitoring:AlertWebhook", "ftp://x")))).Errors), StringComparison.Ordinal);

        Assert.Equal("Aggregator:Monitoring:Drift:Method: 'kl' is not one of auto, ks, wasserstein, psi, jensenshannon, chisquare", Assert.Single(Assert.Throws<OptionsValidationException>(() =>
            AggregatorOptions.FromConfiguration(Config(("Aggregator:Monitoring:Drift:Method", "kl")))).Errors));

        var ex = Assert.Throws<OptionsValidationException>(() => AggregatorOptions.FromConfiguration(Config(("Aggregator:Model", "mlp-6-8-3"), ("Aggregator:Monitoring:CategoricalFeatures", "2,six,6"))));
        Assert.Equal(2, ex.Errors.Count);
        Assert.All(ex.Errors, e => Assert.StartsWith("Aggregator:Monitoring:CategoricalFeatures", e, StringComparison.Ordinal));
    }
}
