using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Aggregator.Lines;
using EdgeMlOps.Shared.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A fleet with a model line, and a real gateway host between the fleet's TLS broker and its site's: a device on the
/// site's broker, downloading from the gateway's artifact cache, gets the fleet's catalogue, runs the line at its first
/// version (the line's files fetched by the gateway from the fleet's API) and is seen by the line's aggregator — all of
/// it through the gateway, for a line added at run time; taken out of the catalogue, it stops on the device and is no
/// longer followed.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class ModelLinesBehindAGatewayTests
{
    [Fact]
    public async Task ADeviceBehindAGatewayHost_RunsTheFleetsLine_WithItsFilesFromTheGatewaysCache()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-lines-gateway-" + Guid.NewGuid().ToString("N"));
        var edge = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["pump-*"] } };
        var options = new AggregatorOptions
        {
            Fleet = "plant", ModelName = "vibration", Model = ModelSpec.Mlp(4, [6], 3), EmbeddedBrokerPort = 0, HttpUrl = "https://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"), Edge = edge,
        };
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        await using var lines = await ModelLineHost.StartAsync(node, NullLoggerFactory.Instance, CancellationToken.None);

        var credentials = Path.Combine(dir, "site-a");
        GatewayCredentials.Write(node.Security, node.Keys.RootPublicKey, "site-a", credentials, [], DateTimeOffset.UtcNow);
        var gatewayOptions = options with
        {
            DataDirectory = Path.Combine(dir, "gateway"), Governance = new EdgeMlOps.Aggregator.Governance.GovernanceOptions { Identities = [ViewerIdentity.Admin] },
            Edge = edge with { Gateway = "site-a", Upstream = node.BrokerEndpoint, Credentials = credentials, UpstreamApi = node.ArtifactBaseUrl },
        };
        await using var host = new EdgeGatewayHost(gatewayOptions, NullLoggerFactory.Instance);
        await host.StartAsync(CancellationToken.None);
        await using var device = await LineDevice.StartAsync(node, Path.Combine(dir, "d0"), "pump-0", new Dictionary<string, string>(), site: (host.SiteEndpoint, host.ArtifactBaseUrl!));
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60))) await device.Agent.WaitForModelAsync(1, cts.Token);

        // An operator adds a line at run time: the gateway follows the new catalogue, and relays the line down.
        await node.Lines.AddAsync("kws", new Dictionary<string, string> { ["Model"] = "mlp-6-8-2", ["HttpUrl"] = $"https://127.0.0.1:{BrokerPorts.Free()}" }, CancellationToken.None);
        var kws = lines["kws"];
        await Eventually.Until(() => host.Gateway!.Lines.SequenceEqual(["kws"]), "the gateway following the fleet's catalogue", 30);
        await Eventually.Until(() => device.Lines["kws"] is not null, "the line started on the device behind the gateway", 60);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60))) await device.Lines["kws"]!.WaitForModelAsync(1, cts.Token);

        // The line's files came through the gateway's cache, fetched from the fleet's API (which serves every line's).
        Assert.True(File.Exists(Path.Combine(gatewayOptions.DataDirectory, "artifacts", kws.CurrentVersion.InferenceSha256)), "the line's model in the gateway's cache");
        Assert.Equal(0, host.Artifacts!.Refused);
        Assert.Equal(0, host.Gateway!.Rejections.Total);

        // Up: the device's line status reached the line's aggregator through the gateway.
        await Eventually.Until(() => kws.Devices.TryGet("pump-0", out var seen) && seen.ModelVersion == 1, "the line's aggregator hearing pump-0 run v1 of kws", 30);

        // The site's operator sees the line followed, its updates relayed one by one (the gateway's settings lack it).
        using (var operatorHttp = new HttpClient(EdgeMlOps.Shared.Security.PinnedHttp.Handler(node.Security.Authority.Certificate)))
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(host.ArtifactBaseUrl!, "v1/gateway/status"));
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Viewer.Token);
            using var response = await operatorHttp.SendAsync(request);
            response.EnsureSuccessStatusCode();
            var line = Assert.Single(System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("lines").EnumerateArray());
            Assert.Equal(("kws", "relayed"), (line.GetProperty("name").GetString(), line.GetProperty("updates").GetString()));
        }

        // The line taken out again: the catalogue without it reaches the device through the gateway, and it stops.
        await node.Lines.RemoveAsync("kws", CancellationToken.None);
        await Eventually.Until(() => device.Lines["kws"] is null && host.Gateway.Lines.Count == 0, "the line stopped behind the gateway", 30);
    }
}
