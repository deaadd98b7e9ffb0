using EdgeMlOps.Aggregator.Broker;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Edge;

/// <summary>
/// The aggregator's process in the edge role (<c>Aggregator:Edge:Gateway</c>): its site's broker — TLS, the fleet's device
/// certificates, the same ACL as the fleet's broker, with the gateway as its aggregator — and the <see cref="EdgeGateway"/>
/// between that broker and the fleet's (<c>Aggregator:Edge:Upstream</c>), both with the credentials the fleet's
/// aggregator issued (<see cref="GatewayCredentials"/>). With <c>Aggregator:Edge:UpstreamApi</c> it also keeps the
/// fleet's artifacts (<see cref="ArtifactCache"/>, fetched as announcements name them) and serves them on its own
/// <c>HttpUrl</c> (<c>/v1/artifacts/{sha256}</c>, the site's devices' <c>Agent:ArtifactBaseUrl</c>). Devices in the fleet's
/// signed revocation list are dropped from the site's broker and refused there. It opens no round and signs nothing.
/// </summary>
public sealed class EdgeGatewayHost : IAsyncDisposable
{
    private readonly AggregatorOptions _options;
    private readonly ILoggerFactory _loggers;
    private readonly TimeProvider _time;
    private GatewayCredentials? _credentials;
    private SecurityStore? _store;
    private EmbeddedBroker? _broker;
    private BrokerGuard? _guard;
    private HttpClient? _http;
    private WebApplication? _web;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _revocationOrder = new();
    private Task _revoking = Task.CompletedTask;

    public EdgeGatewayHost(AggregatorOptions options, ILoggerFactory loggers, TimeProvider? time = null)
    {
        if (options.Edge.Gateway is null || options.Edge.Upstream is null) throw new ArgumentException("Aggregator:Edge:Gateway and Aggregator:Edge:Upstream are not set", nameof(options));
        (_options, _loggers, _time) = (options, loggers, time ?? TimeProvider.System);
    }

    /// <summary>Where the site's devices connect (mqtts).</summary>
    public MqttEndpoint SiteEndpoint { get; private set; } = new("localhost", 0, Tls: true);

    /// <summary>The fleet's artifacts kept at the site (with <c>Edge:UpstreamApi</c>), and where they are served.</summary>
    public ArtifactCache? Artifacts { get; private set; }

    public Uri? ArtifactBaseUrl { get; private set; }

    /// <summary>The gateway, once started.</summary>
    public EdgeGateway? Gateway { get; private set; }

    /// <summary>Refusals at the site's broker (connections, publishes, subscriptions), as the fleet's broker counts them.</summary>
    public SecurityEvents? Events { get; private set; }

    public string CredentialsDirectory => _options.Edge.Credentials ?? Path.Combine(_options.DataDirectory, "gateway");

    /// <summary>Loads the credentials (their id must be <c>Edge:Gateway</c>), starts the site's broker, then the gateway.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var id = _options.Edge.Gateway!;
        _credentials = GatewayCredentials.Load(CredentialsDirectory);
        if (_credentials.GatewayId != id) throw new InvalidDataException($"gateway credentials in {CredentialsDirectory} are for '{_credentials.GatewayId}', not Aggregator:Edge:Gateway '{id}'");
        Directory.CreateDirectory(_options.DataDirectory);
        _store = new SecurityStore(Path.Combine(_options.DataDirectory, "security.db"));
        var security = _options.Security;
        Events = new SecurityEvents(_store, _time, _loggers.CreateLogger<SecurityEvents>());
        var guard = _guard = new BrokerGuard(
            _credentials.FleetCa, _options.Fleet, new TopicAcl(new Topics(_options.Fleet), _options.Edge, siteGateway: id), Events, _time,
            new PublishRateLimiter(security.DeviceMessagesPerSecond, security.DeviceMessageBurst, _time), DevicePublishLimits.For(_options.Model, _options.Monitoring.MaxProfileBytes));
        foreach (var revoked in _store.RevokedDevices()) guard.Revoke(revoked); // the lists followed before: kept offline too
        _broker = new EmbeddedBroker(_options.EmbeddedBrokerPort, _options.BrokerBindAddress, _loggers.CreateLogger<EmbeddedBroker>(),
            new BrokerTls(_credentials.SiteServer, guard, security.TlsHandshakeTimeout, security.MaxPendingTlsHandshakes));
        await _broker.StartAsync().ConfigureAwait(false);
        var any = _options.BrokerBindAddress.Equals(System.Net.IPAddress.Any) || _options.BrokerBindAddress.Equals(System.Net.IPAddress.IPv6Any);
        SiteEndpoint = new MqttEndpoint(any ? "127.0.0.1" : _options.BrokerBindAddress.ToString(), _broker.Port, Tls: true);

        var client = _credentials.Client;
        var tls = new MqttTlsSettings(_credentials.FleetCa, _ => client);
        Gateway = new EdgeGateway(_options, id, new MqttChannelFactory(_options.Edge.Upstream!, tls), new MqttChannelFactory(SiteEndpoint, tls), _credentials.RootPublicKey, _time, _loggers);
        Gateway.DevicesRevoked = ids =>
        {
            lock (_revocationOrder) _revoking = AfterAsync(_revoking, ids); // one list at a time, awaited before the store closes
        };
        if (_options.Edge.UpstreamApi is { } api) await StartArtifactsAsync(api, Gateway).ConfigureAwait(false);
        await Gateway.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task AfterAsync(Task previous, IReadOnlyList<string> deviceIds)
    {
        await previous.ConfigureAwait(false); // never faults: a failure is logged below, and the next list still comes
        try
        {
            await RevokeAsync(deviceIds).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _loggers.CreateLogger<EdgeGatewayHost>().LogRevocationNotStored(_options.Edge.Gateway!, string.Join(", ", deviceIds), ex.Message);
        }
    }

    /// <summary>
    /// Devices the fleet revoked (from its signed list): refused by the site's broker from now on, also after a restart
    /// without the fleet (kept in the gateway's own store), and dropped if connected.
    /// </summary>
    private async Task RevokeAsync(IReadOnlyList<string> deviceIds)
    {
        var logger = _loggers.CreateLogger<EdgeGatewayHost>();
        foreach (var id in deviceIds.Where(id => !_guard!.IsRevoked(id)))
        {
            _guard!.Revoke(id); // refused at once, whatever happens to the store
            Events!.Record(SecurityEventKind.DeviceRevoked, id, "in the fleet's signed revocation list: refused at the site's broker");
            logger.LogDeviceRevoked(_options.Edge.Gateway!, id);
            await _broker!.DisconnectAsync(id).ConfigureAwait(false);
            try
            {
                _store!.Revoke(id, "in the fleet's revocation list", "fleet", _time.GetUtcNow());
            }
            catch (System.Data.Common.DbException ex)
            {
                logger.LogRevocationNotStored(_options.Edge.Gateway!, id, ex.Message);
            }
        }
    }

    /// <summary>What an operator checks on a site: the link up, what waits, what was sent, refused or dropped, who is revoked here.</summary>
    private object Status(EdgeGateway gateway, ArtifactCache cache) => new
    {
        gateway = gateway.Id,
        upstreamConnected = gateway.UpstreamConnected,
        siteClients = _broker!.ConnectedClients,
        unsentUpdates = gateway.UnsentUpdates,
        partialsSent = gateway.PartialsSent,
        partialBytes = gateway.PartialBytes,
        upstreamBytes = gateway.UpstreamBytes,
        pending = gateway.Pending,
        dropped = gateway.Dropped,
        refusedUpstream = gateway.RefusedUpstream,
        rejections = gateway.Rejections.Snapshot(),
        revokedDevices = _store!.RevokedDevices().Count,
        gatewaysBelow = gateway.Below.Snapshot(),
        lines = gateway.Lines.Select(name => new { name, updates = gateway.Folds(name) ? "folded" : "relayed" }),
        cataloguesRefused = gateway.CataloguesRefused,
        artifactsFetched = cache.Fetched,
        artifactsEvicted = cache.Evicted,
    };

    /// <summary>The artifact cache, fed by what the gateway relays, served over HTTPS with the site broker's certificate.</summary>
    private async Task StartArtifactsAsync(Uri api, EdgeGateway gateway)
    {
        _http = new HttpClient(Shared.Security.PinnedHttp.Handler(_credentials!.FleetCa)) { Timeout = TimeSpan.FromMinutes(10) };
        var cache = Artifacts = new ArtifactCache(Path.Combine(_options.DataDirectory, "artifacts"), _http, api, _loggers.CreateLogger<ArtifactCache>(), _options.Edge.CachedArtifacts);
        gateway.ArtifactsNamed = named => _ = cache.PrefetchAsync(named, _stopping.Token);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(_options); // the admin tokens (Aggregator:Admin:Tokens) that may read the status
        Http.AdminTokenAuthentication.AddAdminAuthentication(builder.Services);
        builder.Services.AddSingleton(s => new Http.AdminGuard(_options.Governance.Identities, s.GetRequiredService<Microsoft.AspNetCore.Authorization.IAuthorizationService>(), _loggers.CreateLogger<EdgeGatewayHost>()));
        builder.WebHost.UseUrls(_options.HttpUrl);
        var certificate = _credentials.SiteServer;
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(k => k.ConfigureHttpsDefaults(h => h.ServerCertificate = certificate));
        _web = builder.Build();
        _web.MapGet("/v1/artifacts/{sha256}", async (string sha256, CancellationToken aborted) =>
        {
            if (!ContentHash.IsSha256Hex(sha256)) return Http.ArtifactResults.BadId();
            return await cache.GetAsync(sha256, aborted).ConfigureAwait(false) is { } path
                ? Http.ArtifactResults.File(path, sha256)
                : Results.NotFound(new { error = $"artifact {sha256} is not here and the aggregator could not give it" });
        });
        _web.MapGet("/healthz", () => Results.Ok(new { status = "ok", role = "gateway" }));
        // Counters and ids are not for anyone on the site's network: a viewer token, as the aggregator's /v1/fleet/* asks.
        _web.MapGet("/v1/gateway/status", (HttpContext http, Http.AdminGuard guard) => guard.Run(http, Governance.AdminRoles.Viewer, _ => Results.Ok(Status(gateway, cache))));
        await _web.StartAsync().ConfigureAwait(false);
        ArtifactBaseUrl = new Uri(_web.Urls.First());
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_web is not null) await _web.DisposeAsync().ConfigureAwait(false);
        _http?.Dispose();
        if (Gateway is not null) await Gateway.DisposeAsync().ConfigureAwait(false);
        Task revoking;
        lock (_revocationOrder) revoking = _revoking;
        await revoking.ConfigureAwait(false);
        if (_broker is not null) await _broker.DisposeAsync().ConfigureAwait(false);
        _store?.Dispose();
        _credentials?.Dispose();
        _stopping.Dispose();
    }
}
