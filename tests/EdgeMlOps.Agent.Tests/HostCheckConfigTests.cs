using System.Diagnostics;

namespace EdgeMlOps.Agent.Tests;

/// <summary>The agent binary's <c>--check-config</c>: exit code and every error listed.</summary>
public class HostCheckConfigTests
{
    [Fact]
    public async Task ValidConfiguration_ExitsZero()
    {
        var ca = Path.GetTempFileName();
        using (var key = System.Security.Cryptography.ECDsa.Create())
        using (var certificate = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=ca", key, System.Security.Cryptography.HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1)))
        {
            await File.WriteAllTextAsync(ca, certificate.ExportCertificatePem());
        }

        var (code, output, _) = await RunAsync(
            "--check-config", "--Agent:DeviceId=dev-7", "--Logging:LogLevel:Default=debug", "--Agent:FleetCaFile=" + ca,
            "--Agent:TrustedRoots:0=" + Convert.ToBase64String(EdgeMlOps.Shared.Trust.SigningKeyPair.Generate().PublicKey));

        Assert.Equal(0, code);
        Assert.Contains("Configuration is valid: device dev-7", output, StringComparison.Ordinal);
        Assert.Contains("mqtts://localhost:8883", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TlsBroker_WithoutTheFleetCa_IsRefused_NamingTheSetting()
    {
        var (code, _, errors) = await RunAsync("--check-config", "--Agent:DeviceId=dev-7", "--Agent:FleetCaFile=/nonexistent/ca.crt",
            "--Agent:TrustedRoots:0=" + Convert.ToBase64String(EdgeMlOps.Shared.Trust.SigningKeyPair.Generate().PublicKey));

        Assert.Equal(2, code);
        Assert.Contains("Agent:FleetCaFile", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidConfiguration_ListsEveryErrorAndExitsNonZero()
    {
        var (code, _, errors) = await RunAsync("--check-config", "--Agent:Broker=http://nope", "--Agent:MaxSamples=0", "--Logging:LogLevel:Default=loud");

        Assert.Equal(2, code);
        Assert.Contains("Broker", errors, StringComparison.Ordinal);
        Assert.Contains("MaxSamples", errors, StringComparison.Ordinal);
        Assert.Contains("Logging:LogLevel:Default: 'loud' is not one of Trace, Debug, Information, Warning, Error, Critical, None", errors, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("7")]
    [InlineData("Verbose")]
    public async Task UnknownLogLevel_IsRefused(string level)
    {
        var (code, _, errors) = await RunAsync("--check-config", "--Logging:LogLevel:Default=" + level);

        Assert.Equal(2, code);
        Assert.Contains($"'{level}' is not one of", errors, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--help", "Usage: edgemlops-agent")]
    [InlineData("--version", "edgemlops-agent ")]
    public async Task HelpAndVersion_AnswerWithoutAConfiguration(string flag, string expected)
    {
        var (code, output, errors) = await RunAsync(flag);
        Assert.Equal(0, code);
        Assert.Contains(expected, output, StringComparison.Ordinal);
        Assert.Equal(string.Empty, errors);
    }

    /// <summary>The agent's own configuration, as in its container: the check reads where the agent listens from it.</summary>
    private static readonly string[] HealthArgs =
        ["--healthcheck", "--Agent:DeviceId=dev-h", "--Agent:Broker=mqtt://127.0.0.1:1883", "--Agent:TrustedRoots:0=" + Convert.ToBase64String(EdgeMlOps.Shared.Trust.SigningKeyPair.Generate().PublicKey)];

    [Fact]
    public async Task HealthCheck_AsksTheRunningAgentsLocalApi()
    {
        await using var device = await OfflineAgent.StartAsync();
        var prefix = $"http://127.0.0.1:{BrokerPorts.Free()}/";
        await using (var api = new EdgeMlOps.Agent.Http.LocalApi(device.Agent, new EdgeMlOps.Agent.Http.LocalApiOptions { Address = prefix }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance))
        {
            api.Start();
            var (code, output, errors) = await RunAsync([.. HealthArgs, "--Agent:Http=" + prefix]);
            Assert.True(code == 0, output + errors);
            Assert.Contains("/v1/health: 200", output, StringComparison.Ordinal);
        }

        var (down, said, _) = await RunAsync([.. HealthArgs, "--Agent:Http=" + prefix]);
        Assert.Equal(1, down);
        Assert.Contains("unhealthy", said, StringComparison.Ordinal);
    }

    /// <summary>An appsettings.json that is not JSON (a trailing comma, a brace missing) crashed the agent with an unhandled exception (exit code 134).</summary>
    [Fact]
    public async Task AnAppSettingsFileThatIsNotJson_IsRefusedNamingTheFileAndLine()
    {
        var work = Directory.CreateTempSubdirectory("edgemlops-badjson-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(work, "appsettings.json"), "{\n  \"Agent\": { \"DeviceId\": \"dev-7\", }\n");
            var (code, output, errors) = await RunInAsync(work, "--check-config");

            Assert.Equal(2, code);
            Assert.Contains($"{Path.Combine(work, "appsettings.json")}: not valid JSON", errors, StringComparison.Ordinal);
            Assert.Contains("LineNumber: ", errors, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled exception", output + errors, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>
    /// Erasure asked of a path that holds no agent's data (a typo in the data directory) reported "Erased 0 samples …"
    /// with exit code 0, and created the directory: an operator answering an erasure request believed it done.
    /// </summary>
    [Fact]
    public async Task EraseData_OnADirectoryThatHoldsNoAgentsData_ErasesNothing_AndSaysSo()
    {
        var typo = Path.Combine(Path.GetTempPath(), "edgemlops-no-such-device-" + Guid.NewGuid().ToString("N"));
        var (code, output, errors) = await RunAsync([.. HealthArgs[1..], "--erase-data", "--Agent:DataDirectory=" + typo]);

        Assert.Equal(1, code);
        Assert.Contains($"Nothing erased: {typo} holds no agent's data", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("Erased", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(typo));
    }

    private static Task<(int Code, string Output, string Errors)> RunAsync(params string[] args) => RunInAsync(Path.GetTempPath(), args);

    private static async Task<(int Code, string Output, string Errors)> RunInAsync(string workingDirectory, params string[] args)
    {
        var host = Path.Combine(AppContext.BaseDirectory, "edgemlops-agent.dll");
        using var process = Process.Start(new ProcessStartInfo("dotnet", [host, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
        })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await errors);
    }
}
