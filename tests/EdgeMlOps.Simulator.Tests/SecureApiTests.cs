using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Agent;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Security;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>The aggregator's HTTP API over HTTPS with a certificate from the fleet CA: devices that pin the CA enroll and download; nobody else trusts it blindly.</summary>
[Collection(FleetCollection.Name)]
public class SecureApiTests
{
    [Fact]
    public async Task HttpsApi_AgentPinningTheFleetCa_EnrollsAndInstalls_AndTheSystemStoreDoesNotTrustIt()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-https-" + Guid.NewGuid().ToString("N"));
        await using var node = new AggregatorNode(new AggregatorOptions
        {
            Fleet = "https", ModelName = "m", Model = ModelSpecText.Parse("mlp-3-4-2"), EmbeddedBrokerPort = 0,
            HttpUrl = "https://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
        });
        await node.StartAsync(CancellationToken.None);
        Assert.Equal("https", node.ArtifactBaseUrl.Scheme);

        // Without the pin, the fleet's own CA is just another unknown issuer.
        using (var stranger = new HttpClient())
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => stranger.GetAsync(new Uri(node.ArtifactBaseUrl, "/healthz")));
        }

        using var pinned = new HttpClient(PinnedHttp.Handler(node.Security.Authority.Certificate));
        await using var agent = new DeviceAgent(
            new AgentOptions { DeviceId = "dev-s", Fleet = "https", Broker = node.BrokerEndpoint, FleetCa = node.Security.Authority.Certificate, Enrollment = Join.Enrollment(node), TrustedRoots = [node.Keys.RootPublicKey] },
            new AgentDependencies
            {
                Store = new SampleStore(Path.Combine(dir, "dev", "agent.db"), 100, 10), Outbox = new Outbox(Path.Combine(dir, "dev", "outbox.db"), 10),
                Models = new ModelStore(Path.Combine(dir, "dev", "models")), Http = pinned,
            });
        await agent.StartAsync(CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await agent.WaitForModelAsync(1, cts.Token);
        Assert.True(agent.IsConnected);

        // A device pinning another CA refuses the server.
        using var otherCa = new EdgeMlOps.Aggregator.Security.FleetCertificateAuthority(Path.Combine(dir, "other"), "https", DateTimeOffset.UtcNow);
        using var wrongPin = new HttpClient(PinnedHttp.Handler(otherCa.Certificate));
        await Assert.ThrowsAsync<HttpRequestException>(() => wrongPin.GetAsync(new Uri(node.ArtifactBaseUrl, "/healthz")));
    }
}
