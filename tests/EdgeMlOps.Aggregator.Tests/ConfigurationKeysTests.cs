using EdgeMlOps.Shared.Configuration;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests;

/// <summary>A mistyped setting is an error naming the nearest real one, never silently ignored.</summary>
public class ConfigurationKeysTests
{
    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    private static string RepositoryFile(string relative)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "EdgeMlOps.sln"))) dir = dir.Parent;
        return Path.Combine(dir!.FullName, relative);
    }

    [Fact]
    public void AMistypedKey_IsAnError_WithTheNearestSetting()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => AggregatorOptions.FromConfiguration(Config(("Aggregator:Rounds:Fracton", "0.2"), ("Aggregator:Strategy:Nmae", "fedprox"))));
        Assert.Contains("Aggregator:Rounds:Fracton: not a setting; did you mean Aggregator:Rounds:Fraction?", ex.Errors);
        Assert.Contains("Aggregator:Strategy:Nmae: not a setting; did you mean Aggregator:Strategy:Name?", ex.Errors);
    }

    [Fact]
    public void AMisspeltSection_IsAnError()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => AggregatorOptions.FromConfiguration(Config(("Agregator:Fleet", "x"))));
        Assert.Contains("Agregator: not a section; did you mean Aggregator?", ex.Errors);
    }

    [Fact]
    public void KeysReadOnlyInSomeConfigurations_AndMapsOfNames_AreNotUnknown()
    {
        var options = AggregatorOptions.FromConfiguration(Config(
            ("Aggregator:Strategy:Dp:NoiseMultiplier", "1.5"), // DP off: inert, but a real setting
            ("Aggregator:Admin:Tokens:alice", "approver:change-me"),
            ("Aggregator:Monitoring:Kpis:fraud", "share:1")));
        Assert.Null(options.Strategy.Dp);
    }

    [Fact]
    public void TheShippedAppsettings_HasOnlyRealSettings()
    {
        var configuration = new ConfigurationBuilder().AddJsonFile(RepositoryFile("aggregator/EdgeMlOps.Aggregator.Host/appsettings.json")).Build();
        var options = AggregatorOptions.FromConfiguration(configuration);
        Assert.Equal(AggregatorOptions.DefaultHttpUrl, options.HttpUrl);
    }
}
