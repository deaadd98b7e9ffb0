using System.Net.Http.Json;
using System.Text.Json;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// Chaos: the agent process (the real host, enrolled over HTTPS, on MQTT over TLS) is killed with SIGKILL again and
/// again while the aggregator publishes one new version after another, so deaths land in downloads, in commits and in
/// health windows. After every kill the device's disk holds exactly one intact current version (never a half-written
/// one), and after the last the restarted agent serves the version the fleet deploys.
/// </summary>
[Collection(FleetCollection.Name)]
public class AgentKillDuringInstallTests
{
    /// <summary>The agent host in its own build output (see the project file).</summary>
    private static readonly string AgentHost = Path.Combine(
        typeof(AgentKillDuringInstallTests).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>().Single(a => a.Key == "AgentHostDirectory").Value!,
        HostProcess.Agent);

    [Fact]
    public async Task KilledWhileInstallingVersions_AlwaysRestartsOnOneIntactVersion_AndCatchesUp()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-install-kill-" + Guid.NewGuid().ToString("N"));
        var data = Path.Combine(dir, "agg");
        var device = Path.Combine(dir, "dev");
        await using var node = new AggregatorNode(new AggregatorOptions
        {
            Fleet = "kill", ModelName = "m", Model = ModelSpecText.Parse("mlp-64-256-10"), EmbeddedBrokerPort = 0,
            HttpUrl = "https://127.0.0.1:0", DataDirectory = data,
        });
        await node.StartAsync(CancellationToken.None);
        var random = new Random(11);
        var served = new List<ulong>();
        for (var life = 0; life < 5; life++)
        {
            var http = BrokerPorts.Free();
            using var agent = new HostProcess(AgentHost, dir, Args(node, data, device, http));
            await agent.WaitForAsync("Local model API listening");
            using var publishing = new CancellationTokenSource();
            var publisher = Task.Run(async () =>
            {
                for (var i = 0; !publishing.IsCancellationRequested; i++)
                {
                    await node.RegisterVersionAsync(ModelWeights.Initialize(node.Options.Model, 100 * life + i), "scientist", "chaos", CancellationToken.None);
                    await Task.Delay(40);
                }
            });
            await Task.Delay(600 + random.Next(900)); // several installs under way
            agent.Kill();
            await publishing.CancelAsync();
            await publisher;

            var load = new ModelStore(Path.Combine(device, "models")).LoadCurrent();
            Assert.Null(load.FallbackReason); // the current version on disk is whole: announcement and both artifacts match their hashes
            if (load.Model is { } stored) served.Add(stored.Announcement.Version);
        }

        Assert.True(served.Count >= 3 && served.Distinct().Count() >= 3, $"current version on disk after each kill: {string.Join(", ", served)} (too few installs to have been interrupted)");
        var deployed = node.DeployedVersion!.Version;
        var port = BrokerPorts.Free();
        using var last = new HostProcess(AgentHost, dir, Args(node, data, device, port));
        await last.WaitForAsync("Local model API listening");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        await Eventually.Until(async () => (await Health(client)).GetProperty("modelVersion").GetUInt64() == deployed, $"the restarted agent serves v{deployed}", seconds: 60);
        var health = await Health(client);
        Assert.Equal("ok", health.GetProperty("status").GetString());
        using var predicted = await client.PostAsJsonAsync("/v1/predict", new { features = new float[64] });
        Assert.True(predicted.IsSuccessStatusCode, await predicted.Content.ReadAsStringAsync());
    }

    private static async Task<JsonElement> Health(HttpClient client) =>
        JsonDocument.Parse(await client.GetStringAsync("/v1/health")).RootElement;

    private static string[] Args(AggregatorNode node, string data, string device, int http) =>
    [
        "--Agent:DeviceId=kill-1", "--Agent:Fleet=kill", $"--Agent:Broker=mqtts://127.0.0.1:{node.BrokerEndpoint.Port}",
        $"--Agent:FleetCaFile={Path.Combine(data, "pki", "ca.crt")}", $"--Agent:Enrollment:Url={node.ArtifactBaseUrl}",
        $"--Agent:Enrollment:TokenFile={Path.Combine(data, "pki", "enrollment-token")}", $"--Agent:TrustedRootFile={Path.Combine(data, "keys", "root.pub")}",
        $"--Agent:DataDirectory={device}", $"--Agent:Http=http://127.0.0.1:{http}/",
    ];
}
