using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Federated;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests;

/// <summary>Options built in code pass the same rules as configuration, and every problem is reported at once.</summary>
public class OptionsValidationTests
{
    [Fact]
    public void OptionsBuiltInCode_AreValidatedByTheNode_WithEveryProblemListed()
    {
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with
        {
            Rounds = new RoundOptions { Fraction = 5, MinQuorum = -0.1, LocalEpochs = 0 },
            Strategy = new StrategyOptions { Name = "fedsgd" },
        };
        var ex = Assert.Throws<OptionsValidationException>(() => new AggregatorNode(options));
        Assert.Contains("Aggregator:Rounds:Fraction: 5 is not in [0, 1]", ex.Errors);
        Assert.Contains("Aggregator:Rounds:MinQuorum: -0.1 is not in [0, 1]", ex.Errors);
        Assert.Contains("Aggregator:Rounds:LocalEpochs: 0 is not in [1, 1000]", ex.Errors);
        Assert.Contains(ex.Errors, e => e.StartsWith("Aggregator:Strategy:Name 'fedsgd' is not one of", StringComparison.Ordinal));
        Assert.Equal(4, ex.Errors.Count);
    }

    /// <summary>What the aggregator keeps (artifacts, devices) built in code was never checked: a negative count or age ran.</summary>
    [Fact]
    public void RetentionOptionsBuiltInCode_AreHeldToTheRangesConfigurationHas()
    {
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with
        {
            Registry = new EdgeMlOps.Aggregator.Registry.RegistryOptions { KeepVersions = -1 },
            Devices = new EdgeMlOps.Aggregator.Fleet.DeviceOptions { ForgetAfter = TimeSpan.FromDays(-1) },
        };
        var ex = Assert.Throws<OptionsValidationException>(() => new AggregatorNode(options));
        Assert.Equal(
            ["Aggregator:Registry:KeepVersions: must be 0 (keep every version's artifacts) or a count of versions, not -1", "Aggregator:Devices:ForgetAfterDays: must be 0 (remember every device) or a number of days, not -1"],
            ex.Errors);

        var configured = AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Aggregator:Devices:ForgetAfterDays"] = "0.5" }).Build());
        Assert.Equal(TimeSpan.FromHours(12), configured.Devices.ForgetAfter);
        Assert.Equal(TimeSpan.FromDays(7), AggregatorOptions.FromConfiguration(new ConfigurationBuilder().Build()).Devices.ForgetAfter);
    }

    [Fact]
    public void SecurityOptionsBuiltInCode_AreHeldToTheRangesConfigurationHas()
    {
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1);
        options = options with { Security = options.Security with { TlsHandshakeTimeout = TimeSpan.Zero, DeviceMessagesPerSecond = -1 } };
        var ex = Assert.Throws<OptionsValidationException>(() => new AggregatorNode(options));
        Assert.Equal(["Aggregator:Security:DeviceMessagesPerSecond: -1 is not in [0.001, 1e9]", "Aggregator:Security:TlsHandshakeSeconds: 0 is not in [0.1, 300]"], ex.Errors);

        var configured = AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Aggregator:Security:TlsHandshakeSeconds"] = "45" }).Build());
        Assert.Equal(TimeSpan.FromSeconds(45), configured.Security.TlsHandshakeTimeout);
        var refused = Assert.Throws<OptionsValidationException>(() => AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Aggregator:Security:TlsHandshakeSeconds"] = "0" }).Build()));
        Assert.Equal(["Aggregator:Security:TlsHandshakeSeconds: 0 is not in [0.1, 300]"], refused.Errors);
        Assert.Equal(TimeSpan.FromSeconds(EdgeMlOps.Aggregator.Security.SecurityOptions.DefaultTlsHandshakeSeconds), AggregatorOptions.FromConfiguration(new ConfigurationBuilder().Build()).Security.TlsHandshakeTimeout);
    }

    [Fact]
    public void Configuration_GoesThroughTheSameRules_WithTheKeyTheUserTyped()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aggregator:Rounds:OverSelection"] = "0.5",
            ["Aggregator:Rounds:Fraction"] = "0",
            ["Aggregator:Rounds:ReportDeadlineSeconds"] = "0.01",
        }).Build();
        var ex = Assert.Throws<OptionsValidationException>(() => AggregatorOptions.FromConfiguration(configuration));
        Assert.Contains("Aggregator:Rounds:OverSelection: 0.5 is not in [1, 10]", ex.Errors);
        Assert.Contains("Aggregator:Rounds:Fraction: must be positive unless Rounds:ClientsPerRound is set", ex.Errors);
        Assert.Contains("Aggregator:Rounds:ReportDeadlineSeconds: 0.01 is not in [0.1, 86400]", ex.Errors);
    }

    [Fact]
    public void AdaptiveOverSelection_ReadsItsBounds_AndALargeFixedFactorStaysValid()
    {
        static AggregatorOptions Read(Dictionary<string, string?> values) => AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
        var ex = Assert.Throws<OptionsValidationException>(() => Read(new() { ["Aggregator:Rounds:MaxOverSelection"] = "12", ["Aggregator:Rounds:TargetConfidence"] = "1" }));
        Assert.Contains("Aggregator:Rounds:MaxOverSelection: 12 is not in [1, 10]", ex.Errors);
        Assert.Contains("Aggregator:Rounds:TargetConfidence: 1 is not in [0.5, 1)", ex.Errors);

        Assert.Equal(5, Read(new() { ["Aggregator:Rounds:OverSelection"] = "5" }).Rounds.OverSelection); // above the adaptive cap's default: still fine
        var adaptive = Read(new() { ["Aggregator:Rounds:AdaptiveOverSelection"] = "true", ["Aggregator:Rounds:MaxOverSelection"] = "2.5", ["Aggregator:Rounds:TargetConfidence"] = "0.9" }).Rounds;
        Assert.Equal((true, 2.5, 0.9), (adaptive.AdaptiveOverSelection, adaptive.MaxOverSelection, adaptive.TargetConfidence));
    }

    [Fact]
    public void TheDefaults_AreValid_AndConfigurationWithoutRoundsGivesThem()
    {
        Assert.Empty(new RoundOptions().Problems());
        var options = AggregatorOptions.FromConfiguration(new ConfigurationBuilder().Build());
        Assert.Equal(new RoundOptions(), options.Rounds);
    }

    [Fact]
    public void Replicas_NeedPostgreSql_ASynchronousMeanRuleWithoutDp_AndTheirNameAmongTheMembers()
    {
        static OptionsValidationException Refused(Dictionary<string, string?> values) =>
            Assert.Throws<OptionsValidationException>(() => AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(values).Build()));
        var sqlite = Refused(new() { ["Aggregator:Replicas:Name"] = "b", ["Aggregator:Replicas:Members"] = "a" });
        Assert.Contains("Aggregator:Replicas:Members: must list this replica's name 'b' (the broker's ACL is written from it)", sqlite.Errors);
        Assert.Contains("Aggregator:Replicas:Name: replicas share their rounds through PostgreSQL: set Store:Engine=postgresql", sqlite.Errors);

        var postgres = new Dictionary<string, string?>
        {
            ["Aggregator:Store:Engine"] = "postgresql", ["Aggregator:Store:ConnectionString"] = "Host=db;Database=edgemlops",
            ["Aggregator:Replicas:Name"] = "a", ["Aggregator:Replicas:Members"] = "a, b",
        };
        var options = AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(postgres).Build());
        Assert.Equal(("a", "aggregator-replica-a"), (options.Replicas.Name, options.Replicas.Identity));
        Assert.Equal(["a", "b"], options.Replicas.Members);

        Assert.Contains("Aggregator:Replicas:Name: the 'fedmedian' rule needs every update in one process (only mean rules add up across replicas)",
            Refused(new(postgres) { ["Aggregator:Strategy:Name"] = "fedmedian" }).Errors);
        Assert.Contains("Aggregator:Replicas:Name: differential privacy clips against a clip norm the coordinator adapts: run it in one process",
            Refused(new(postgres) { ["Aggregator:Strategy:Dp:Enabled"] = "true" }).Errors);
        Assert.Contains("Aggregator:Replicas:Name: replicas share synchronous rounds; Rounds:Mode 'buffered' runs in one process",
            Refused(new(postgres) { ["Aggregator:Rounds:Mode"] = "buffered" }).Errors);
        Assert.Contains("Aggregator:Replicas: 'b/x' is not a replica name (1–32 letters, digits or '-')",
            Refused(new(postgres) { ["Aggregator:Replicas:Members"] = "a,b/x" }).Errors);
        Assert.Empty(new AggregatorOptions().Replicas.Problems(new EdgeMlOps.Aggregator.Storage.StoreOptions(), RoundMode.Synchronous, new StrategyOptions(), new AggregatorOptions().Model));
    }

    [Fact]
    public void AConnectionStringThatDoesNotParse_IsAConfigurationError_NotACrash()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aggregator:Store:Engine"] = "postgresql", ["Aggregator:Store:ConnectionString"] = "Host=db;Search Path",
        }).Build()));
        Assert.Contains(ex.Errors, e => e.StartsWith("Aggregator:Store:ConnectionString: is not a connection string", StringComparison.Ordinal));
    }
}
