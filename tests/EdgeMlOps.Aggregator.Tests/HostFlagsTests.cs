using System.Diagnostics;

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

    private static async Task<(int Code, string Output)> RunAsync(string workingDirectory, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "edgemlops-aggregator.dll"), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
        })!;
        var output = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output);
    }
}
