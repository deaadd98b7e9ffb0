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

    private static async Task<(int Code, string Output, string Errors)> RunAsync(params string[] args)
    {
        var host = Path.Combine(AppContext.BaseDirectory, "edgemlops-agent.dll");
        using var process = Process.Start(new ProcessStartInfo("dotnet", [host, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await errors);
    }
}
