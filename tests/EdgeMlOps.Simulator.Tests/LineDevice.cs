using System.Net;
using System.Text;
using System.Text.Json;
using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Http;
using EdgeMlOps.Agent.Lines;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>A device of a fleet with model lines, as the agent's host composes it: its first model, its lines, its local API on a free port.</summary>
internal sealed class LineDevice(DeviceAgent agent, ModelLines lines, LocalApi api, HttpClient http, AgentStores stores) : IAsyncDisposable
{
    public DeviceAgent Agent => agent;

    public ModelLines Lines => lines;

    public HttpClient Http => http;

    /// <param name="site">Behind an edge gateway: its site's broker and artifact address (HTTPS with the fleet CA pinned).</param>
    public static async Task<LineDevice> StartAsync(AggregatorNode node, string dir, string id, IReadOnlyDictionary<string, string> tags, long budgetMb = AgentOptions.DefaultMemoryBudgetMb, (Runtime.Mqtt.MqttEndpoint Broker, Uri Artifacts)? site = null)
    {
        var options = new AgentOptions
        {
            DeviceId = id, Fleet = node.Options.Fleet, Broker = site?.Broker ?? node.BrokerEndpoint, FleetCa = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(node.Security.Authority.Certificate.RawData), Enrollment = Join.Enrollment(node),
            TrustedRoots = [node.Keys.RootPublicKey], DataDirectory = dir, Tags = tags, MemoryBudgetBytes = budgetMb << 20, ArtifactBaseUrl = site?.Artifacts,
        };
        var stores = AgentStores.Open(options, inMemory: false, DateTimeOffset.UtcNow);
        var downloads = site is null ? new HttpClient() : new HttpClient(Shared.Security.PinnedHttp.Handler(node.Security.Authority.Certificate));
        var dependencies = new AgentDependencies { Store = stores.Samples, Outbox = stores.Outbox, Models = new ModelStore(Path.Combine(dir, "models")), Http = downloads };
        var agent = new DeviceAgent(options, dependencies);
        var lines = new ModelLines(agent, options, dependencies);
        await agent.StartAsync(CancellationToken.None);
        await lines.StartAsync(CancellationToken.None);
        var api = new LocalApi(agent, new LocalApiOptions { Address = "http://127.0.0.1:0/" }, NullLogger.Instance, lines);
        api.Start();
        var http = new HttpClient { BaseAddress = new Uri($"http://{api.EndPoint}/") };
        return new LineDevice(agent, lines, api, http, stores);
    }

    public async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpMethod method, string path, string? body = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    public async ValueTask DisposeAsync()
    {
        http.Dispose();
        await api.DisposeAsync();
        await lines.DisposeAsync();
        await agent.DisposeAsync();
        stores.Dispose();
    }
}
