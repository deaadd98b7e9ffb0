using EdgeMlOps.Runtime.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Runtime.Tests;

/// <summary>The hosts honour Logging:LogLevel (default and per category) and keep ASP.NET Core's per-request lines out by default.</summary>
public class HostLoggingTests
{
    private static ILoggerFactory Create(IConfiguration configuration) => HostLogging.Create(configuration, HostLogging.Levels(configuration, []));

    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void LevelsByCategory_AreApplied_AndRequestLogsStartAtWarning()
    {
        using var loggers = Create(Config(("Logging:LogLevel:Default", "Warning"), ("Logging:LogLevel:EdgeMlOps.Aggregator.Rounds", "debug")));
        Assert.True(loggers.CreateLogger("EdgeMlOps.Aggregator.Rounds.RoundCoordinator").IsEnabled(LogLevel.Debug));
        Assert.False(loggers.CreateLogger("EdgeMlOps.Aggregator.AggregatorNode").IsEnabled(LogLevel.Information));
        Assert.True(loggers.CreateLogger("EdgeMlOps.Aggregator.AggregatorNode").IsEnabled(LogLevel.Warning));
        Assert.False(loggers.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(LogLevel.Information));
    }

    [Fact]
    public void TheDefault_IsInformation_AndRequestLogsCanBeTurnedBackOn()
    {
        using var loggers = Create(Config(("Logging:LogLevel:Microsoft.AspNetCore", "Information")));
        Assert.True(loggers.CreateLogger("EdgeMlOps.Agent.DeviceAgent").IsEnabled(LogLevel.Information));
        Assert.False(loggers.CreateLogger("EdgeMlOps.Agent.DeviceAgent").IsEnabled(LogLevel.Debug));
        Assert.True(loggers.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(LogLevel.Information));
    }

    [Fact]
    public void ALevelThatIsNotOne_IsAnErrorNamingTheKeyAndTheChoices()
    {
        var errors = new List<string>();
        HostLogging.Levels(Config(("Logging:LogLevel:Default", "verbose"), ("Logging:LogLevel:EdgeMlOps", "Trace")), errors);
        Assert.Equal("Logging:LogLevel:Default: 'verbose' is not one of Trace, Debug, Information, Warning, Error, Critical, None", Assert.Single(errors));
    }
}
