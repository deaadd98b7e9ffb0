using EdgeMlOps.Aggregator.Governance;
using Spectre.Console.Testing;

namespace EdgeMlOps.Aggregator.Tests.Cli;

/// <summary>The CLI against the default HTTPS API: it trusts the fleet CA it is given, and says what to do when it has none.</summary>
public sealed class CliHttpsTests : IAsyncLifetime
{
    private string _directory = null!;
    private AggregatorNode _node = null!;

    public async Task InitializeAsync()
    {
        _directory = AggregatorFixture.TempDirectory();
        _node = new AggregatorNode(AggregatorFixture.Options(_directory, clients: 1) with
        {
            HttpUrl = "https://127.0.0.1:0",
            Governance = new GovernanceOptions
            {
                Identities = [new AdminIdentity("carol", AdminIdentity.HashToken("carol-token"), new HashSet<string> { AdminRoles.Viewer })],
            },
        });
        await _node.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync() => await _node.DisposeAsync();

    private async Task<(int Exit, string Output)> Run(params string[] args)
    {
        var console = new TestConsole().Width(250);
        var exit = await EdgeMlOps.Cli.Cli.RunAsync([.. args, "--url", _node.ArtifactBaseUrl.ToString(), "--token", "carol-token", "--model", "tiny"], console);
        return (exit, console.Output);
    }

    [Fact]
    public async Task WithTheFleetCa_TheCliTalksHttps()
    {
        Assert.Equal("https", _node.ArtifactBaseUrl.Scheme);
        var (exit, output) = await Run("models", "list", "--ca", Path.Combine(_directory, "pki", "ca.crt"));
        Assert.True(exit == 0, output);
        Assert.Contains("deployed", output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task WithoutIt_TheServerIsNotTrusted_AndTheMessageSaysWhatToPass()
    {
        var (exit, output) = await Run("models", "list");
        Assert.Equal(3, exit);
        Assert.Contains("not trusted", output, StringComparison.Ordinal);
        Assert.Contains("--ca", output, StringComparison.Ordinal);
    }

    /// <summary>The wrong file passed as the CA (a key, a typo'd copy) crashed the CLI with a stack trace (exit code 1).</summary>
    [Fact]
    public async Task AFileThatIsNoCertificate_IsNamed_WithExitCode2()
    {
        var file = Path.Combine(_directory, "keys", "root.pub");
        var (exit, output) = await Run("models", "list", "--ca", file);
        Assert.Equal(2, exit);
        Assert.Contains($"--ca {file}: not a PEM certificate", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
    }

    /// <summary>http:// to the https API answered only "An error occurred while sending the request".</summary>
    [Fact]
    public async Task PlainHttpToTheHttpsApi_SaysToCheckTheUrl()
    {
        var console = new TestConsole().Width(250);
        var plain = new UriBuilder(_node.ArtifactBaseUrl) { Scheme = "http" }.Uri;
        var exit = await EdgeMlOps.Cli.Cli.RunAsync(["models", "list", "--url", plain.ToString(), "--token", "carol-token", "--model", "tiny"], console);
        Assert.Equal(3, exit);
        Assert.Contains("ended prematurely", console.Output, StringComparison.Ordinal);
        Assert.Contains("check --url", console.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnotherFleetsCa_IsRefused()
    {
        var other = AggregatorFixture.TempDirectory();
        new EdgeMlOps.Aggregator.Security.FleetCertificateAuthority(Path.Combine(other, "pki"), "other", DateTimeOffset.UtcNow).Dispose();

        var (exit, output) = await Run("models", "list", "--ca", Path.Combine(other, "pki", "ca.crt"));
        Assert.Equal(3, exit);
        Assert.Contains("not trusted", output, StringComparison.Ordinal);
    }
}
