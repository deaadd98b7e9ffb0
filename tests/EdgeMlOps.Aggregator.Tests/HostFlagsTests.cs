namespace EdgeMlOps.Aggregator.Tests;

/// <summary>The aggregator binary's --help and --version answer without starting anything.</summary>
public class HostFlagsTests
{
    [Theory]
    [InlineData("--help", "Usage: edgemlops-aggregator")]
    [InlineData("--version", "edgemlops-aggregator ")]
    public async Task AnswersAndExits_WithoutBindingPortsOrCreatingKeys(string flag, string expected)
    {
        var work = AggregatorFixture.TempDirectory();
        var (code, output) = await RunAsync(work, flag, "--Aggregator:Rounds:Fracton=typo-ignored-for-help");
        Assert.Equal(0, code);
        Assert.Contains(expected, output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(work, "aggregator-data")), "--help must not create the data directory");
    }

    [Fact]
    public async Task HealthCheck_AsksTheRunningAggregatorOverHttps_TrustingItsFleetCa()
    {
        var dir = AggregatorFixture.TempDirectory();
        var options = AggregatorFixture.Options(dir, clients: 1) with { HttpUrl = "https://127.0.0.1:0" };
        string url;
        await using (var node = new AggregatorNode(options))
        {
            await node.StartAsync(CancellationToken.None);
            url = node.ArtifactBaseUrl.ToString().TrimEnd('/');
            var (code, output) = await RunAsync(dir, "--healthcheck", "--Aggregator:HttpUrl=" + url, "--Aggregator:DataDirectory=" + dir);
            Assert.True(code == 0, output);
            Assert.Contains("/healthz: 200", output, StringComparison.Ordinal);
        }

        var (down, said) = await RunAsync(dir, "--healthcheck", "--Aggregator:HttpUrl=" + url, "--Aggregator:DataDirectory=" + dir);
        Assert.Equal(1, down);
        Assert.Contains("unhealthy", said, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ALogLevelThatIsNotOne_IsAConfigurationError()
    {
        var work = AggregatorFixture.TempDirectory();
        var (code, _, errors) = await HostProcess.RunToExitAsync(HostProcess.Aggregator, work, "--check-config", "--Logging:LogLevel:Default=verbose");
        Assert.Equal(2, code);
        Assert.Contains("Logging:LogLevel:Default: 'verbose' is not one of Trace", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADatabaseItCannotReach_StopsTheStart_WithTheStoreAndTheReason_AndNoStackTrace()
    {
        var dir = AggregatorFixture.TempDirectory();
        var started = System.Diagnostics.Stopwatch.StartNew();
        var (code, _, errors) = await HostProcess.RunToExitAsync(HostProcess.Aggregator, dir, "--Aggregator:Store:Engine=postgresql", $"--Aggregator:Store:ConnectionString=Host=127.0.0.1;Port={EdgeMlOps.Tests.BrokerPorts.Free()};Username=x;Password=secret;Database=fleet",
            "--Aggregator:Store:StartupWaitSeconds=2"); // retried for 2 s (30 by default) before it gives up
        Assert.Equal(2, code);
        Assert.InRange(started.Elapsed.TotalSeconds, 2, 20);
        Assert.Contains("Aggregator:Store: cannot open the tables in PostgreSQL 127.0.0.1:", errors, StringComparison.Ordinal);
        Assert.Contains("/fleet: Failed to connect", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheRunningAggregator_LogsTimestampedLines_WithoutPerRequestNoise()
    {
        var work = AggregatorFixture.TempDirectory();
        string[] seen;
        using (var host = new HostProcess(HostProcess.Aggregator, work, ["--Aggregator:HttpUrl=https://127.0.0.1:0", "--Aggregator:EmbeddedBrokerPort=0", "--Aggregator:DataDirectory=" + Path.Combine(work, "data")]))
        {
            await host.WaitForAsync("Aggregator for fleet");
            host.Kill();
            seen = host.Lines;
        }

        Assert.All(seen.Where(l => l.Contains(": EdgeMlOps.", StringComparison.Ordinal)), line =>
            Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z (info|warn|fail|crit|dbug|trce): ", line));
        Assert.Contains(seen, l => l.Contains("Aggregator for fleet", StringComparison.Ordinal));
        Assert.DoesNotContain(seen, l => l.Contains("Microsoft.AspNetCore.Hosting.Diagnostics", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TwoAggregatorsOnOneStore_OneServes_TheOtherStandsBy_AndTakesOverWhenTheLeaderIsKilled()
    {
        var work = AggregatorFixture.TempDirectory();
        string[] args = ["--Aggregator:HttpUrl=https://127.0.0.1:0", "--Aggregator:EmbeddedBrokerPort=0", "--Aggregator:DataDirectory=" + Path.Combine(work, "data"), "--Aggregator:Store:LeaderLeaseSeconds=5"];
        using var first = new HostProcess(HostProcess.Aggregator, work, args);
        await first.WaitForAsync("Aggregator for fleet");
        using var second = new HostProcess(HostProcess.Aggregator, work, args);
        await second.WaitForAsync("Standby:");
        await Task.Delay(TimeSpan.FromSeconds(6)); // longer than a term: the leader keeps renewing
        Assert.False(second.Saw("Aggregator for fleet"), "the standby started serving beside the leader");

        first.Kill(); // no clean stop: the lease must expire
        await second.WaitForAsync("Aggregator for fleet");
        Assert.True(second.Saw("fencing token 2"));
    }

    private static async Task<(int Code, string Output)> RunAsync(string workingDirectory, params string[] args)
    {
        var (code, output, _) = await HostProcess.RunToExitAsync(HostProcess.Aggregator, workingDirectory, args);
        return (code, output);
    }
}
