using System.Text.Json;
using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Aggregator.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace EdgeMlOps.Aggregator.Http;

/// <summary>
/// The authenticated admin API (<c>/v1/admin</c>): bearer tokens map to identities with roles (<see cref="AdminGuard"/>).
/// No or unknown token: 401. A role without the right: 403. A rule that says no (four eyes, a transition the registry
/// does not allow, approval missing beyond the canary): 403 or 409. Bad input: 400 with a message. Every change lands
/// in the hash-chained audit log. Each endpoint takes the services it uses from the host's container.
/// </summary>
internal static class AdminApi
{
    /// <summary>Largest uploaded model.</summary>
    internal const int MaxModelBytes = 256 * 1024 * 1024;

    public static void Map(WebApplication app)
    {
        var admin = app.MapGroup("/v1/admin");
        ExplanationApi.Map(admin);
        PipelineApi.Map(admin);
        LinesApi.Map(admin);

        // Who the token belongs to and what it may do (the console shows only the actions the roles allow), and where the
        // fleet's other models (its model lines) have their own API and console.
        admin.MapGet("/whoami", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] AggregatorOptions options, [FromServices] Lines.FleetLines lines) =>
            guard.Run(http, AdminRoles.Viewer, who => Results.Ok(new
            {
                who.Name, Roles = who.Roles.Append(AdminRoles.Viewer).Distinct().Order(StringComparer.Ordinal).ToArray(), Model = options.ModelName, options.Fleet, Mode = options.Governance.Mode.ToString(),
                Lines = lines.Current.Select(l => new { l.Name, Url = (l.Options.PublicBaseUrl ?? new Uri(l.Options.HttpUrl)).ToString() }).ToArray(),
            })));

        // History a page at a time (ApiPage): the newest ?limit= (1000) below ?before=, oldest first.
        admin.MapGet("/models/{name}/versions", (HttpContext http, string name, int? limit, ulong? before, [FromServices] AdminGuard guard, [FromServices] ModelRegistry registry, [FromServices] AggregatorOptions options) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Ok(registry.VersionsPage(KnownModel(registry, options, name), ApiPage.Size(limit), before))));

        admin.MapGet("/models/{name}/rounds", (HttpContext http, string name, int? limit, long? before, [FromServices] AdminGuard guard, [FromServices] ModelRegistry registry, [FromServices] AggregatorOptions options) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Ok(registry.RoundsPage(KnownModel(registry, options, name), ApiPage.Size(limit), before))));

        // A data scientist's model, trained elsewhere: the inference ONNX file as the body.
        admin.MapPost("/models/{name}/versions", (HttpContext http, string name, string? reason, [FromServices] AdminGuard guard, [FromServices] AggregatorOptions options, [FromServices] VersionUploads uploads) =>
            guard.Run(http, AdminRoles.Scientist, async who =>
            {
                if (name != options.ModelName) throw new KeyNotFoundException($"this aggregator manages model '{options.ModelName}', not '{name}'");
                var bytes = await AdminGuard.ReadBodyAsync(http, MaxModelBytes).ConfigureAwait(false);
                // Stored as weights and served as the graph made from them: admitted only when that is the uploaded graph's function (dense) or bytes (uploaded graph).
                // A model the fleet does not train (served by tensor names, or a serve-only classifier): a new version is a new file with the same interface, served byte for byte.
                if (options.ModelSource is { Spec.Trainable: false } served)
                {
                    var file = await uploads.RegisterAsync(FileVersions.Admit(served, bytes), who.Name, AdminGuard.Required(reason, "reason"), http.RequestAborted, bytes).ConfigureAwait(false);
                    return Results.Created($"/v1/admin/models/{name}/versions/{file.Version}", file);
                }

                var weights = options.ModelSource is { } source ? UploadedGraphCheck.AdmitVersionOf(source, bytes) : UploadedGraphCheck.Admit(bytes);
                // An uploaded graph's new version is the uploaded file itself, served byte for byte; a generated one's is made from its weights.
                var record = await uploads.RegisterAsync(weights, who.Name, AdminGuard.Required(reason, "reason"), http.RequestAborted, options.ModelSource is null ? null : bytes).ConfigureAwait(false);
                return Results.Created($"/v1/admin/models/{name}/versions/{record.Version}", record);
            }));

        admin.MapGet("/models/{name}/versions/{version}", (HttpContext http, string name, ulong version, [FromServices] AdminGuard guard, [FromServices] ModelRegistry registry) =>
            guard.Run(http, AdminRoles.Viewer, _ => registry.Version(name, version) is { } v
                ? Results.Ok(new { Version = v, Evaluation = registry.Evaluation(name, version) is { } e ? JsonDocument.Parse(e).RootElement : (JsonElement?)null })
                : Results.NotFound(new { error = $"no version {name} v{version}" })));

        admin.MapGet("/models/{name}/versions/{version}/card", (HttpContext http, string name, ulong version, string? format, [FromServices] AdminGuard guard, [FromServices] ModelRegistry registry, [FromServices] AggregatorOptions options, [FromServices] DriftWatch drift, [FromServices] Explanations.VersionExplainer explainer, [FromServices] ArtifactStore artifacts) =>
            guard.Run(http, AdminRoles.Viewer, _ =>
            {
                if (format is not (null or "markdown" or "html")) return Results.BadRequest(new { error = $"format '{format}' is none a card is made in: markdown (the default) or html" });
                if (registry.Version(name, version) is not { } v) return Results.NotFound(new { error = $"no version {name} v{version}" });
                var card = ModelCard.Build(registry, options, drift.Monitor, v, explainer.For(v), explainer.Federated(v), artifacts);
                return format == "html" ? Results.Content(card.Html, "text/html; charset=utf-8") : Results.Content(card.Markdown, "text/markdown; charset=utf-8");
            }));

        admin.MapPost("/models/{name}/versions/{version}/approve", (HttpContext http, string name, ulong version, [FromServices] AdminGuard guard, [FromServices] ModelGovernance governance) =>
            guard.RunWithBody(http, AdminRoles.Approver, AdminJson.Default.ReasonRequest, (who, body) =>
                Results.Ok(governance.Approve(who.Name, name, version, AdminGuard.Required(body.Reason, "reason")))));

        admin.MapPost("/models/{name}/versions/{version}/reject", (HttpContext http, string name, ulong version, [FromServices] AdminGuard guard, [FromServices] ModelGovernance governance) =>
            guard.RunWithBody(http, AdminRoles.Approver, AdminJson.Default.ReasonRequest, (who, body) =>
                Results.Ok(governance.Reject(who.Name, name, version, AdminGuard.Required(body.Reason, "reason")))));

        admin.MapGet("/rollouts", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] RolloutManager rollouts) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Json(rollouts.All().Select(rollouts.View).ToList(), RolloutJson.Default.ListRolloutView)));

        admin.MapGet("/rollouts/{id}", (HttpContext http, string id, [FromServices] AdminGuard guard, [FromServices] RolloutManager rollouts) =>
            guard.Run(http, AdminRoles.Viewer, _ => rollouts.Find(id) is { } r
                ? Results.Json(rollouts.View(rollouts.Current?.Id == id ? rollouts.Current : r), RolloutJson.Default.RolloutView)
                : Results.NotFound(new { error = $"no rollout {id}" })));

        admin.MapPost("/rollouts", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] RolloutManager rollouts) =>
            guard.RunWithBody(http, AdminRoles.Operator, RolloutJson.Default.RolloutRequest, async (who, body) =>
            {
                var created = await rollouts.CreateAsync(who.Name, body, http.RequestAborted).ConfigureAwait(false);
                return Results.Json(rollouts.View(created), RolloutJson.Default.RolloutView, statusCode: StatusCodes.Status201Created);
            }));

        foreach (var action in new[] { "advance", "pause", "resume", "abort", "rollback" })
        {
            admin.MapPost("/rollouts/{id}/" + action, (HttpContext http, string id, [FromServices] AdminGuard guard, [FromServices] RolloutManager rollouts) =>
                guard.RunWithBody(http, AdminRoles.Operator, AdminJson.Default.ReasonRequest, async (who, body) =>
                {
                    var reason = AdminGuard.Required(body.Reason, "reason");
                    var changed = action switch
                    {
                        "advance" => await rollouts.AdvanceAsync(who.Name, id, reason, http.RequestAborted).ConfigureAwait(false),
                        "pause" => await rollouts.PauseAsync(who.Name, id, reason, http.RequestAborted).ConfigureAwait(false),
                        "resume" => await rollouts.ResumeAsync(who.Name, id, reason, http.RequestAborted).ConfigureAwait(false),
                        "rollback" => await rollouts.RollbackAsync(who.Name, id, reason, http.RequestAborted).ConfigureAwait(false),
                        _ => await rollouts.AbortAsync(who.Name, id, reason, http.RequestAborted).ConfigureAwait(false),
                    };
                    return Results.Json(rollouts.View(changed), RolloutJson.Default.RolloutView);
                }));
        }

        admin.MapGet("/drift", (HttpContext http, int? limit, [FromServices] AdminGuard guard, [FromServices] DriftWatch drift) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Json((IReadOnlyList<DriftReport>)drift.Recent.TakeLast(Math.Clamp(limit ?? 100, 1, 1000)).ToArray(), MonitoringJsonAccess.Reports)));

        admin.MapGet("/performance", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] DriftWatch drift) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Json(drift.Monitor.Performance(), MonitoringJsonAccess.Performance)));

        admin.MapGet("/kpis", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] DriftWatch drift) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Json(drift.Monitor.Kpis(), MonitoringJsonAccess.Kpis)));

        admin.MapGet("/audit", (HttpContext http, string? subject, int? limit, long? before, [FromServices] AdminGuard guard, [FromServices] AuditLog audit) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Ok(audit.Entries(subject, Math.Clamp(limit ?? 1000, 1, 100_000), before)))); // the newest, in order

        admin.MapGet("/audit/verify", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] AuditLog audit) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Ok(audit.Verify())));

        admin.MapPost("/keys/rotate", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] FleetAnnouncer announcer, [FromServices] Trust.KeyRing keys) =>
            guard.RunWithBody(http, AdminRoles.KeyAdmin, AdminJson.Default.RotateRequest, async (who, body) =>
            {
                var key = await announcer.RotateSigningKeyAsync(who.Name, body.RevokeOld, AdminGuard.Required(body.Reason, "reason"), http.RequestAborted).ConfigureAwait(false);
                return Results.Ok(new { signingKey = key, bundleVersion = keys.Bundle.Version });
            }));

        admin.MapPost("/devices/{id}/revoke", (HttpContext http, string id, [FromServices] AdminGuard guard, [FromServices] DeviceRevocation revocation) =>
            guard.RunWithBody(http, AdminRoles.KeyAdmin, AdminJson.Default.ReasonRequest, async (who, body) =>
            {
                await revocation.RevokeAsync(id, AdminGuard.Required(body.Reason, "reason"), who.Name).ConfigureAwait(false);
                return Results.Ok(new { revoked = id });
            }));

        admin.MapPost("/enrollment-tokens", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] FleetSecurity security) =>
            guard.RunWithBody(http, AdminRoles.KeyAdmin, AdminJson.Default.TokenRequest, (who, body) =>
            {
                var lifetime = TimeSpan.FromHours(Math.Clamp(body.Hours ?? 24, 0.01, 24 * 365));
                var token = security.CreateToken(body.DeviceId, lifetime, Math.Clamp(body.Uses ?? 1, 1, 1_000_000), who.Name);
                return Results.Ok(new { token, deviceId = body.DeviceId, expiresInHours = lifetime.TotalHours });
            }));

        admin.MapGet("/security/events", (HttpContext http, int? limit, [FromServices] AdminGuard guard, [FromServices] FleetSecurity security) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Ok(security.Events.Recent(Math.Clamp(limit ?? 100, 1, SecurityStore.MaxEvents))
                .Select(e => new { e.Id, e.At, Kind = e.Kind.ToString(), e.Subject, e.Detail }))));

        // Enrolled devices by id, a page at a time: ?limit= (1000), ?after= the last id of the page before.
        admin.MapGet("/devices/enrollment", (HttpContext http, int? limit, string? after, [FromServices] AdminGuard guard, [FromServices] FleetSecurity security) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Ok(security.Store.Devices(ApiPage.Size(limit), after))));
    }

    /// <summary>The model's name when the registry has it; otherwise a 404 (not an empty list that looks like a model without versions).</summary>
    private static string KnownModel(ModelRegistry registry, AggregatorOptions options, string name) =>
        registry.GetModelSpec(name) is null ? throw new KeyNotFoundException($"no model '{name}' (this aggregator has '{options.ModelName}')") : name;
}

internal sealed class BadRequestException(string message) : Exception(message);

public sealed record ReasonRequest(string? Reason);

public sealed record RotateRequest(bool RevokeOld, string? Reason);

/// <summary>A new enrollment token: bound to one device id or not, valid for some hours, for some uses (1 by default).</summary>
public sealed record TokenRequest(string? DeviceId, double? Hours, int? Uses);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase, PropertyNameCaseInsensitive = true)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ReasonRequest))]
[System.Text.Json.Serialization.JsonSerializable(typeof(RotateRequest))]
[System.Text.Json.Serialization.JsonSerializable(typeof(TokenRequest))]
internal sealed partial class AdminJson : System.Text.Json.Serialization.JsonSerializerContext;
