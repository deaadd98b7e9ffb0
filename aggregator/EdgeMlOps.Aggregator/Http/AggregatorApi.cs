using EdgeMlOps.Shared.Hashing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Http;

/// <summary>
/// The aggregator's HTTP surface: content-addressed artifact downloads (with range requests,
/// so devices can resume) and read-only views of the registry, rounds and fleet.
/// </summary>
public static class AggregatorApi
{
    public static string ArtifactPath(string sha256) => $"/v1/artifacts/{sha256}";

    /// <param name="node">The aggregator whose registry, fleet and security the endpoints serve.</param>
    /// <param name="url">Where to listen; an <c>https://</c> URL serves TLS with <paramref name="httpsCertificate"/>.</param>
    /// <param name="httpsCertificate">The server certificate (from the fleet CA, which devices pin) for an https URL.</param>
    /// <param name="loggerFactory">Where the endpoints log.</param>
    /// <param name="onArtifactBytes">Counts artifact bytes served.</param>
    public static WebApplication Build(AggregatorNode node, string url, System.Security.Cryptography.X509Certificates.X509Certificate2? httpsCertificate, ILoggerFactory loggerFactory, Action<long> onArtifactBytes)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.WebHost.UseUrls(url);
        if (httpsCertificate is not null)
        {
            builder.WebHost.UseKestrelHttpsConfiguration();
            builder.WebHost.ConfigureKestrel(k => k.ConfigureHttpsDefaults(h => h.ServerCertificate = httpsCertificate));
        }

        var app = builder.Build();

        app.MapGet("/v1/artifacts/{sha256}", (string sha256) =>
        {
            if (!ContentHash.IsSha256Hex(sha256)) return Results.BadRequest(new { error = "artifact id must be 64 lowercase hex characters (sha256)" });
            if (node.Artifacts.TryGetPath(sha256) is not { } path) return Results.NotFound(new { error = $"no artifact {sha256}" });
            onArtifactBytes(new FileInfo(path).Length);
            return Results.File(path, "application/octet-stream", enableRangeProcessing: true, entityTag: new Microsoft.Net.Http.Headers.EntityTagHeaderValue($"\"{sha256}\""));
        });
        app.MapGet("/v1/models/{name}/versions", (string name) => Results.Ok(node.Registry.Versions(name)));
        app.MapGet("/v1/models/{name}/rounds", (string name) => Results.Ok(node.Registry.Rounds(name)));
        app.MapGet("/v1/fleet/devices", () => Results.Ok(node.Devices.All.OrderBy(d => d.DeviceId, StringComparer.Ordinal).Select(d => new
        {
            d.DeviceId,
            State = d.State.ToString(),
            d.ModelName,
            d.ModelVersion,
            d.SampleCount,
            d.Tags,
            d.LastSeen,
        })));
        app.MapGet("/v1/rejections", () => Results.Ok(node.Rejections.Snapshot()));
        app.MapGet("/v1/strategy", () => Results.Ok(new
        {
            Strategy = node.Strategy.Describe(),
            node.Options.Rounds.Mode,

            // ε spent, clip norm, staleness… as of the last completed round.
            LastRound = node.Registry.Rounds(node.Options.ModelName).LastOrDefault(r => r.Notes is not null) is { } last
                ? new { last.Round, last.NewVersion, last.Notes }
                : null,
        }));
        app.MapGet("/metrics", () => Results.Text(PrometheusMetrics.Render(node), PrometheusMetrics.ContentType));
        app.MapGet("/v1/trust/root", () => Results.Text(Convert.ToBase64String(node.Keys.RootPublicKey) + "\n", "text/plain"));
        EnrollmentApi.Map(app, () => node.Security);
        AdminApi.Map(app, node);
        Console.ConsoleEndpoints.Map(app);
        app.MapGet("/healthz", () => Results.Ok(new
        {
            status = "ok",
            model = node.Options.ModelName,
            version = node.CurrentVersion.Version,
            devicesOnline = node.Devices.OnlineCount,
            brokerConnected = node.IsBrokerConnected,
            artifactBytesServed = node.ArtifactBytesServed,
            brokerDroppedMessages = node.Broker?.DroppedMessages ?? 0,
        }));
        return app;
    }
}
