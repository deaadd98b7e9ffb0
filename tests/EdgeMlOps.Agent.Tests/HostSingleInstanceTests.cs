using System.Diagnostics;

namespace EdgeMlOps.Agent.Tests;

/// <summary>A second agent started as the README says, beside a first one: it must say which setting collides, never share data.</summary>
public class HostSingleInstanceTests
{
    private static readonly string Root = Convert.ToBase64String(EdgeMlOps.Shared.Trust.SigningKeyPair.Generate().PublicKey);

    private static Process Start(string dataDirectory, int httpPort, int brokerPort) =>
        Process.Start(new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "edgemlops-agent.dll"), "--Agent:DeviceId=dev-" + httpPort,
            "--Agent:DataDirectory=" + dataDirectory, $"--Agent:Broker=mqtt://127.0.0.1:{brokerPort}", $"--Agent:Http=http://127.0.0.1:{httpPort}/", "--Agent:TrustedRoots:0=" + Root])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;

    private static async Task WaitUntilListeningAsync(int port)
    {
        using var http = new HttpClient();
        await Eventually.Until(
            async () =>
            {
                try
                {
                    using var _ = await http.GetAsync($"http://127.0.0.1:{port}/v1/health");
                    return true;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            },
            $"the agent's local API on port {port}",
            60);
    }

    /// <summary>Waits for the second agent to give up; one that keeps running (the bug) is killed rather than left behind.</summary>
    private static async Task<(int Code, string Errors)> ExitOfAsync(Process process)
    {
        var errors = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            await process.WaitForExitAsync();
            Assert.Fail("the second agent kept running beside the first");
        }

        return (process.ExitCode, await errors);
    }

    /// <summary>A data directory that names a file (a typo, a volume mounted as a file) is a setting to change: exit code 2 naming it, not a crash (exit code 134).</summary>
    [Fact]
    public async Task Agent_WhoseDataDirectoryIsAFile_IsRefused_NamingTheSetting()
    {
        var file = Path.GetTempFileName();
        try
        {
            using var agent = Start(file, BrokerPorts.Free(), BrokerPorts.Free());
            var (code, errors) = await ExitOfAsync(agent);
            Assert.Equal(2, code);
            Assert.Contains($"Agent:DataDirectory: '{file}' cannot be used", errors, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled exception", errors, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task SecondAgent_OnTheSameDataDirectory_IsRefused_WithTheSettingToChange()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-twin-" + Guid.NewGuid().ToString("N"));
        var broker = BrokerPorts.Free();
        var firstPort = BrokerPorts.Free();
        using var first = Start(dir, firstPort, broker);
        try
        {
            await WaitUntilListeningAsync(firstPort);
            using var second = Start(dir, BrokerPorts.Free(), broker);
            var (code, errors) = await ExitOfAsync(second);
            Assert.Equal(2, code);
            Assert.Contains("Agent:DataDirectory", errors, StringComparison.Ordinal);
            Assert.Contains("is in use by another agent", errors, StringComparison.Ordinal);
            Assert.False(first.HasExited);
        }
        finally
        {
            first.Kill();
            await first.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task SecondAgent_OnTheSameHttpPort_SaysWhichSettingCollides()
    {
        var broker = BrokerPorts.Free();
        var port = BrokerPorts.Free();
        using var first = Start(Path.Combine(Path.GetTempPath(), "edgemlops-a-" + Guid.NewGuid().ToString("N")), port, broker);
        try
        {
            await WaitUntilListeningAsync(port);
            using var second = Start(Path.Combine(Path.GetTempPath(), "edgemlops-b-" + Guid.NewGuid().ToString("N")), port, broker);
            var (code, errors) = await ExitOfAsync(second);
            Assert.Equal(2, code);
            Assert.Contains("Agent:Http", errors, StringComparison.Ordinal);
            Assert.Contains("already in use", errors, StringComparison.Ordinal);
        }
        finally
        {
            first.Kill();
            await first.WaitForExitAsync();
        }
    }
}
