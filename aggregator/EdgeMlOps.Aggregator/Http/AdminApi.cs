using EdgeMlOps.Aggregator.Security;
using System.Text.Json;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Rollouts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace EdgeMlOps.Aggregator.Http;

/// <summary>
/// The authenticated admin API (<c>/v1/admin</c>): bearer tokens map to identities with roles.
/// No or unknown token: 401. A role without the right: 403. A rule that says no (four eyes, a
/// transition the registry does not allow, approval missing beyond the canary): 403 or 409.
/// Bad input: 400 with a message. Every change lands in the hash-chained audit log.
/// </summary>
internal static class AdminApi
{
    /// <summary>Largest admin JSON request body accepted.</summary>
    private const int MaxBodyBytes = 64 * 1024;

    /// <summary>Largest uploaded model.</summary>
    private const int MaxModelBytes = 256 * 1024 * 1024;

    public static void Map(WebApplication app, AggregatorNode node)
    {
        var admin = app.MapGroup("/v1/admin");

        // Who the token belongs to and what it may do (the console shows only the actions the roles allow).
        admin.MapGet("/whoami", (Delegate)((HttpContext http) =>
            Guard(http, node, AdminRoles.Viewer, who => Results.Ok(new { who.Name, Roles = who.Roles.Append(AdminRoles.Viewer).Distinct().Order(StringComparer.Ordinal).ToArray(), Model = node.Options.ModelName, node.Options.Fleet, Mode = node.Options.Governance.Mode.ToString() }))));

        admin.MapGet("/models/{name}/versions", (HttpContext http, string name) =>
            Guard(http, node, AdminRoles.Viewer, _ => Results.Ok(node.Registry.Versions(KnownModel(node, name)))));

        admin.MapGet("/models/{name}/rounds", (HttpContext http, string name) =>
            Guard(http, node, AdminRoles.Viewer, _ => Results.Ok(node.Registry.Rounds(KnownModel(node, name)))));

        // A data scientist's model, trained elsewhere: the inference ONNX file as the body.
        admin.MapPost("/models/{name}/versions", (HttpContext http, string name, string? reason) =>
            Guard(http, node, AdminRoles.Scientist, async who =>
            {
                if (name != node.Options.ModelName) throw new KeyNotFoundException($"this aggregator manages model '{node.Options.ModelName}', not '{name}'");
                var bytes = await ReadBodyAsync(http, MaxModelBytes).ConfigureAwait(false);
                // Stored as weights and served as the graph rebuilt from them: admitted only when that is the same function.
                var weights = Registry.UploadedGraphCheck.Admit(bytes);
                var record = await node.RegisterVersionAsync(weights, who.Name, Required(reason, "reason"), http.RequestAborted).ConfigureAwait(false);
                return Results.Created($"/v1/admin/models/{name}/versions/{record.Version}", record);
            }));

        admin.MapGet("/models/{name}/versions/{version}", (HttpContext http, string name, ulong version) =>
            Guard(http, node, AdminRoles.Viewer, _ => node.Registry.Version(name, version) is { } v
                ? Results.Ok(new { Version = v, Evaluation = node.Registry.Evaluation(name, version) is { } e ? JsonDocument.Parse(e).RootElement : (JsonElement?)null })
                : Results.NotFound(new { error = $"no version {name} v{version}" })));

        admin.MapGet("/models/{name}/versions/{version}/card", (HttpContext http, string name, ulong version, string? format) =>
            Guard(http, node, AdminRoles.Viewer, _ =>
            {
                if (node.Registry.Version(name, version) is not { } v) return Results.NotFound(new { error = $"no version {name} v{version}" });
                var card = ModelCard.Build(node.Registry, node.Options, node.Monitor, v);
                return format == "html" ? Results.Content(card.Html, "text/html; charset=utf-8") : Results.Content(card.Markdown, "text/markdown; charset=utf-8");
            }));

        admin.MapPost("/models/{name}/versions/{version}/approve", (HttpContext http, string name, ulong version) =>
            GuardWithBody(http, node, AdminRoles.Approver, AdminJson.Default.ReasonRequest, (who, body) =>
                Results.Ok(node.Governance.Approve(who.Name, name, version, Required(body.Reason, "reason")))));

        admin.MapPost("/models/{name}/versions/{version}/reject", (HttpContext http, string name, ulong version) =>
            GuardWithBody(http, node, AdminRoles.Approver, AdminJson.Default.ReasonRequest, (who, body) =>
                Results.Ok(node.Governance.Reject(who.Name, name, version, Required(body.Reason, "reason")))));

        admin.MapGet("/rollouts", (Delegate)((HttpContext http) =>
            Guard(http, node, AdminRoles.Viewer, _ => Results.Json(node.Rollouts.All().Select(node.Rollouts.View).ToList(), RolloutJson.Default.ListRolloutView))));

        admin.MapGet("/rollouts/{id}", (HttpContext http, string id) =>
            Guard(http, node, AdminRoles.Viewer, _ => node.Rollouts.Find(id) is { } r
                ? Results.Json(node.Rollouts.View(node.Rollouts.Current?.Id == id ? node.Rollouts.Current : r), RolloutJson.Default.RolloutView)
                : Results.NotFound(new { error = $"no rollout {id}" })));

        admin.MapPost("/rollouts", (Delegate)((HttpContext http) =>
            GuardWithBody(http, node, AdminRoles.Operator, RolloutJson.Default.RolloutRequest, async (who, body) =>
            {
                var created = await node.Rollouts.CreateAsync(who.Name, body, http.RequestAborted).ConfigureAwait(false);
                return Results.Json(node.Rollouts.View(created), RolloutJson.Default.RolloutView, statusCode: StatusCodes.Status201Created);
            })));

        foreach (var action in new[] { "advance", "pause", "resume", "abort", "rollback" })
        {
            admin.MapPost("/rollouts/{id}/" + action, (HttpContext http, string id) =>
                GuardWithBody(http, node, AdminRoles.Operator, AdminJson.Default.ReasonRequest, async (who, body) =>
                {
                    var reason = Required(body.Reason, "reason");
                    var changed = action switch
                    {
                        "advance" => await node.Rollouts.AdvanceAsync(who.Name, id, reason, http.RequestAborted).ConfigureAwait(false),
                        "pause" => await node.Rollouts.PauseAsync(who.Name, id, reason, http.RequestAborted).ConfigureAwait(false),
                        "resume" => await node.Rollouts.ResumeAsync(who.Name, id, reason, http.RequestAborted).ConfigureAwait(false),
                        "rollback" => await node.Rollouts.RollbackAsync(who.Name, id, reason, http.RequestAborted).ConfigureAwait(false),
                        _ => await node.Rollouts.AbortAsync(who.Name, id, reason, http.RequestAborted).ConfigureAwait(false),
                    };
                    return Results.Json(node.Rollouts.View(changed), RolloutJson.Default.RolloutView);
                }));
        }

        admin.MapGet("/drift", (HttpContext http, int? limit) =>
            Guard(http, node, AdminRoles.Viewer, _ => Results.Json((IReadOnlyList<Monitoring.DriftReport>)node.RecentDrift.TakeLast(Math.Clamp(limit ?? 100, 1, 1000)).ToArray(), MonitoringJsonAccess.Reports)));

        admin.MapGet("/performance", (Delegate)((HttpContext http) =>
            Guard(http, node, AdminRoles.Viewer, _ => Results.Json(node.Monitor.Performance(), MonitoringJsonAccess.Performance))));

        admin.MapGet("/kpis", (Delegate)((HttpContext http) =>
            Guard(http, node, AdminRoles.Viewer, _ => Results.Json(node.Monitor.Kpis(), MonitoringJsonAccess.Kpis))));

        admin.MapGet("/audit", (HttpContext http, string? subject, int? limit) =>
            Guard(http, node, AdminRoles.Viewer, _ => Results.Ok(node.Audit.Entries(subject, Math.Clamp(limit ?? 1000, 1, 100_000)))));

        admin.MapGet("/audit/verify", (Delegate)((HttpContext http) =>
            Guard(http, node, AdminRoles.Viewer, _ => Results.Ok(node.Audit.Verify()))));

        admin.MapPost("/keys/rotate", (Delegate)((HttpContext http) =>
            GuardWithBody(http, node, AdminRoles.KeyAdmin, AdminJson.Default.RotateRequest, async (who, body) =>
            {
                var key = await node.RotateSigningKeyAsync(who.Name, body.RevokeOld, Required(body.Reason, "reason"), http.RequestAborted).ConfigureAwait(false);
                return Results.Ok(new { signingKey = key, bundleVersion = node.Keys.Bundle.Version });
            })));

        admin.MapPost("/devices/{id}/revoke", (HttpContext http, string id) =>
            GuardWithBody(http, node, AdminRoles.KeyAdmin, AdminJson.Default.ReasonRequest, async (who, body) =>
            {
                await node.RevokeDeviceAsync(id, Required(body.Reason, "reason"), who.Name).ConfigureAwait(false);
                return Results.Ok(new { revoked = id });
            }));

        admin.MapPost("/enrollment-tokens", (Delegate)((HttpContext http) =>
            GuardWithBody(http, node, AdminRoles.KeyAdmin, AdminJson.Default.TokenRequest, (who, body) =>
            {
                var lifetime = TimeSpan.FromHours(Math.Clamp(body.Hours ?? 24, 0.01, 24 * 365));
                var token = node.Security.CreateToken(body.DeviceId, lifetime, Math.Clamp(body.Uses ?? 1, 1, 1_000_000), who.Name);
                return Results.Ok(new { token, deviceId = body.DeviceId, expiresInHours = lifetime.TotalHours });
            })));

        admin.MapGet("/security/events", (HttpContext http, int? limit) =>
            Guard(http, node, AdminRoles.Viewer, _ => Results.Ok(node.Security.Events.Recent(Math.Clamp(limit ?? 100, 1, SecurityStore.MaxEvents))
                .Select(e => new { e.Id, e.At, Kind = e.Kind.ToString(), e.Subject, e.Detail }))));

        admin.MapGet("/devices/enrollment", (Delegate)((HttpContext http) =>
            Guard(http, node, AdminRoles.Viewer, _ => Results.Ok(node.Security.Store.Devices()))));
    }

    /// <summary>Reads the request body, refusing (400) anything over <paramref name="limit"/> bytes without buffering it.</summary>
    private static async Task<byte[]> ReadBodyAsync(HttpContext http, int limit)
    {
        if (http.Request.ContentLength > limit) throw new BadRequestException($"request body over {limit} bytes");
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = await http.Request.Body.ReadAsync(chunk, http.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > limit) throw new BadRequestException($"request body over {limit} bytes");
            buffer.Write(chunk, 0, n);
        }

        return buffer.ToArray();
    }

    /// <summary>The model's name when the registry has it; otherwise a 404 (not an empty list that looks like a model without versions).</summary>
    private static string KnownModel(AggregatorNode node, string name) =>
        node.Registry.GetModelSpec(name) is null ? throw new KeyNotFoundException($"no model '{name}' (this aggregator has '{node.Options.ModelName}')") : name;

    private static string Required(string? value, string name) =>
        string.IsNullOrWhiteSpace(value) ? throw new BadRequestException($"'{name}' is required") : value;

    /// <summary>Authenticates and authorizes, then runs <paramref name="action"/>, mapping rule violations to 4xx.</summary>
    private static async Task<IResult> Guard(HttpContext http, AggregatorNode node, string role, Func<AdminIdentity, Task<IResult>> action)
    {
        var header = http.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            return Results.Json(new { error = "missing bearer token" }, statusCode: StatusCodes.Status401Unauthorized);
        }

        var presented = AdminIdentity.HashToken(header["Bearer ".Length..].Trim());
        var identity = node.Options.Governance.Identities.FirstOrDefault(i => i.Matches(presented));
        if (identity is null) return Results.Json(new { error = "unknown token" }, statusCode: StatusCodes.Status401Unauthorized);
        if (!identity.Has(role)) return Results.Json(new { error = $"{identity.Name} lacks the '{role}' role" }, statusCode: StatusCodes.Status403Forbidden);
        try
        {
            return await action(identity).ConfigureAwait(false);
        }
        catch (GovernanceException ex)
        {
            return Results.Json(new { error = ex.Message }, statusCode: ex.Forbidden ? StatusCodes.Status403Forbidden : StatusCodes.Status409Conflict);
        }
        catch (KeyNotFoundException ex)
        {
            return Results.NotFound(new { error = ex.Message });
        }
        catch (Exception ex) when (ex is BadRequestException or Registry.UploadRefusedException or ArgumentException)
        {
            return Results.BadRequest(new { error = ex.Message });
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            node.Logger.LogAdminFailure(http.Request.Path, ex);
            return Results.Json(new { error = $"internal error: {ex.Message}" }, statusCode: StatusCodes.Status500InternalServerError);
        }
    }

    private static Task<IResult> Guard(HttpContext http, AggregatorNode node, string role, Func<AdminIdentity, IResult> action) =>
        Guard(http, node, role, who => Task.FromResult(action(who)));

    private static Task<IResult> GuardWithBody<T>(HttpContext http, AggregatorNode node, string role, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, Func<AdminIdentity, T, IResult> action) =>
        GuardWithBody(http, node, role, type, (who, body) => Task.FromResult(action(who, body)));

    private static Task<IResult> GuardWithBody<T>(HttpContext http, AggregatorNode node, string role, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, Func<AdminIdentity, T, Task<IResult>> action) =>
        Guard(http, node, role, async who =>
        {
            T? body;
            try
            {
                body = JsonSerializer.Deserialize(await ReadBodyAsync(http, MaxBodyBytes).ConfigureAwait(false), type);
            }
            catch (JsonException ex)
            {
                throw new BadRequestException($"request body is not valid JSON for this call: {ex.Message}");
            }

            return body is null ? throw new BadRequestException("request body is required") : await action(who, body).ConfigureAwait(false);
        });
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
