using System.Diagnostics;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Mqtt;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// Debian's Mosquitto 2 run with the configuration <c>--write-mosquitto-config</c> writes for a fleet (TLS only, client
/// certificates from the fleet CA, identity as user name and client id, the topic ACL, the CRL, the packet limit) on a
/// free loopback port. <c>.ci/run</c> installs mosquitto.
/// </summary>
internal sealed class SecuredMosquitto : IAsyncDisposable
{
    public const string Path = "/usr/sbin/mosquitto";

    private readonly string _directory;
    private readonly string _fleet;
    private readonly Process _process;
    private readonly EdgeMlOps.Aggregator.Edge.EdgeOptions? _gateways;
    private readonly IReadOnlyList<string> _lines;

    private SecuredMosquitto(string directory, string fleet, int port, Process process, EdgeMlOps.Aggregator.Edge.EdgeOptions? gateways, IReadOnlyList<string> lines)
    {
        (_directory, _fleet, Port, _process, _gateways, _lines) = (directory, fleet, port, process, gateways, lines);
    }

    public int Port { get; }

    /// <summary>The aggregator replica the configuration admits (<c>Aggregator:Replicas:Members</c>).</summary>
    public const string Replica = "r1";

    /// <summary>Where an aggregator of <paramref name="fleet"/> with data in <paramref name="dataDirectory"/> finds this broker.</summary>
    public MqttEndpoint Endpoint => new("127.0.0.1", Port, Tls: true);

    /// <summary>Writes the fleet's configuration (creating its CA in <paramref name="dataDirectory"/> if new) and starts the broker.</summary>
    /// <param name="lines">The fleet's model lines (<c>Aggregator:Lines</c>): each line's aggregator gets its own rules.</param>
    /// <param name="withoutRulesFor">Identities whose ACL block is taken out after writing (a configuration written before they existed).</param>
    public static async Task<SecuredMosquitto> StartAsync(
        string dataDirectory, string fleet, string directory, EdgeMlOps.Aggregator.Edge.EdgeOptions? gateways = null, IReadOnlyList<string>? lines = null, IReadOnlyList<string>? withoutRulesFor = null)
    {
        Assert.True(File.Exists(Path), "mosquitto is not installed (apt-get install mosquitto; .ci/run does this)");
        var port = BrokerPorts.Free();
        var config = Write(dataDirectory, fleet, directory, port, gateways, lines ?? []);
        foreach (var identity in withoutRulesFor ?? []) TakeOutRules(System.IO.Path.Combine(directory, "acl"), identity);
        var process = Process.Start(new ProcessStartInfo(Path, ["-c", config]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        await BrokerPorts.WaitUntilListeningAsync(port);
        return new SecuredMosquitto(directory, fleet, port, process, gateways, lines ?? []);
    }

    /// <summary>Writes the configuration again from <paramref name="security"/> (a revocation is in its CRL now) and has the broker reload it (SIGHUP).</summary>
    public void Reload(FleetSecurity security)
    {
        MosquittoConfiguration.Write(_directory, security, _fleet, Port, [], DateTimeOffset.UtcNow, runAs: Environment.UserName, replicas: [Replica], gateways: _gateways, lines: _lines);
        Process.Start("kill", ["-HUP", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    private static void TakeOutRules(string aclFile, string identity)
    {
        var blocks = File.ReadAllText(aclFile).Split("\n\n");
        var kept = blocks.Where(b => !b.TrimStart('\n').StartsWith($"user {identity}\n", StringComparison.Ordinal)).ToArray();
        Assert.True(kept.Length == blocks.Length - 1, $"no ACL block for {identity} in {aclFile}");
        File.WriteAllText(aclFile, string.Join("\n\n", kept));
    }

    private static string Write(string dataDirectory, string fleet, string directory, int port, EdgeMlOps.Aggregator.Edge.EdgeOptions? gateways, IReadOnlyList<string> lines)
    {
        using var security = new FleetSecurity(dataDirectory, fleet, new SecurityOptions(), TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        return MosquittoConfiguration.Write(directory, security, fleet, port, [], DateTimeOffset.UtcNow, runAs: Environment.UserName, replicas: [Replica], gateways: gateways, lines: lines);
    }
}
