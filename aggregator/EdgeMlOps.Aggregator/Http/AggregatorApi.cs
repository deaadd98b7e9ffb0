using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Trust;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Http;

/// <summary>
/// The aggregator's HTTP surface: content-addressed artifact downloads (with range requests, so devices can resume),
/// read-only views of the registry, rounds and fleet, enrollment, metrics, the admin API and the console. The
/// aggregator's services come from the container the host fills; each endpoint takes the ones it uses.
/// </summary>
public static class AggregatorApi
{
    public static string ArtifactPath(string sha256) => ManifestRules.ArtifactPath(sha256);

    /// <param name="services">Registers the aggregator's services (the composition root's own instances).</param>
    /// <param name="url">Where to listen; an <c>https://</c> URL serves TLS with <paramref name="httpsCertificate"/>.</param>
    /// <param name="httpsCertificate">The server certificate (from the fleet CA, which devices pin) for an https URL.</param>
    /// <param name="loggerFactory">Where the endpoints log.</param>
    public static WebApplication Build(Action<IServiceCollection> services, string url, System.Security.Cryptography.X509Certificates.X509Certificate2? httpsCertificate, ILoggerFactory loggerFactory)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        services(builder.Services);
        AdminTokenAuthentication.AddAdminAuthentication(builder.Services);
        builder.Services.AddSingleton(s => new AdminGuard(s.GetRequiredService<AggregatorOptions>().Governance.Identities, s.GetRequiredService<Microsoft.AspNetCore.Authorization.IAuthorizationService>(), loggerFactory.CreateLogger("EdgeMlOps.Aggregator.Http.AdminApi"),
            s.GetRequiredService<Security.FleetSecurity>().SignIns));
        builder.Services.AddSingleton<PrometheusMetrics>();
        BadRequestAnswers.AddTo(builder.Services);
        builder.WebHost.UseUrls(url);
        if (httpsCertificate is not null)
        {
            builder.WebHost.UseKestrelHttpsConfiguration();
            builder.WebHost.ConfigureKestrel(k => k.ConfigureHttpsDefaults(h => h.ServerCertificate = httpsCertificate));
        }

        var app = builder.Build();
        BadRequestAnswers.Use(app, loggerFactory.CreateLogger("EdgeMlOps.Aggregator.Http.AdminApi"));

        // A line's artifacts too: a device or gateway given one artifact address fetches every model it runs there.
        app.MapGet("/v1/artifacts/{sha256}", (string sha256, [FromServices] ArtifactStore artifacts, [FromServices] Lines.FleetLines lines, [FromServices] FleetTraffic traffic) =>
        {
            if (!ContentHash.IsSha256Hex(sha256)) return ArtifactResults.BadId();
            if ((artifacts.TryGetPath(sha256) ?? lines.ArtifactPath(sha256)) is not { } path) return Results.NotFound(new { error = $"no artifact {sha256}" });
            traffic.CountArtifact(new FileInfo(path).Length);
            return ArtifactResults.File(path, sha256);
        });
        // What the fleet is and does (device ids, tags, contributors, counters) is for the admin API's identities only: this
        // listener faces the device network (enrollment, artifacts). /healthz and the trust root stay open.
        app.MapGet("/v1/models/{name}/versions", (HttpContext http, string name, int? limit, ulong? before, [FromServices] AdminGuard guard, [FromServices] ModelRegistry registry) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Ok(registry.VersionsPage(name, ApiPage.Size(limit), before))));
        app.MapGet("/v1/models/{name}/rounds", (HttpContext http, string name, int? limit, long? before, [FromServices] AdminGuard guard, [FromServices] ModelRegistry registry) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Ok(registry.RoundsPage(name, ApiPage.Size(limit), before))));
        // A page of devices by id (?limit=, 1000; ?after= the last id of the page before), filtered here (?filter=), and the counts (FleetDevicesView).
        app.MapGet("/v1/fleet/devices", (HttpContext http, string? filter, int? limit, string? after, [FromServices] AdminGuard guard, [FromServices] DeviceDirectory devices) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Ok(FleetDevicesView.Page(devices.All, filter, limit, after))));
        app.MapGet("/v1/fleet/summary", (HttpContext http, string? filter, [FromServices] AdminGuard guard, [FromServices] DeviceDirectory devices) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Ok(FleetDevicesView.Summary(devices.All, filter))));
        app.MapGet("/v1/fleet/gateways", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] Edge.GatewayLedger gateways) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Ok(gateways.Snapshot())));
        app.MapGet("/v1/rejections", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] RejectionCounters rejections) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Ok(rejections.Snapshot())));
        app.MapGet("/v1/strategy", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] FederatedStrategy strategy, [FromServices] AggregatorOptions options, [FromServices] ModelRegistry registry) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Ok(new
            {
                Strategy = strategy.Describe(),
                options.Rounds.Mode,

                // ε spent, clip norm, staleness… as of the last completed round.
                LastRound = registry.LastRoundWithNotes(options.ModelName) is { } last
                    ? new { last.Round, last.NewVersion, last.Notes }
                    : null,
            })));
        app.MapGet("/metrics", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] PrometheusMetrics metrics) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Text(metrics.Render(), PrometheusText.ContentType)));
        app.MapGet("/v1/trust/root", ([FromServices] Trust.KeyRing keys) => Results.Text(Convert.ToBase64String(keys.RootPublicKey) + "\n", "text/plain"));
        EnrollmentApi.Map(app);
        AdminApi.Map(app);
        Console.ConsoleEndpoints.Map(app);
        app.MapGet("/healthz", ([FromServices] AggregatorOptions options, [FromServices] ModelRepository models, [FromServices] DeviceDirectory devices, [FromServices] FleetPublisher publisher, [FromServices] FleetTraffic traffic, [FromServices] Replicas.ReplicaWatch replicas) => Results.Ok(new
        {
            status = "ok",
            model = options.ModelName,
            version = models.Head.Record.Version,
            devicesOnline = devices.OnlineCount,
            brokerConnected = publisher.IsConnected,
            artifactBytesServed = traffic.ArtifactBytesServed,
            brokerDroppedMessages = traffic.BrokerDroppedMessages,
            replicasStarved = replicas.Starved.Count, // connected but taking no updates (a broker rule missing); names with a token: /metrics, /v1/admin/lines
        }));
        return app;
    }
}
