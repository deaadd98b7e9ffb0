using System.Security.Cryptography;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Lines;
using EdgeMlOps.Shared.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace EdgeMlOps.Aggregator.Http;

/// <summary>
/// The fleet's model lines in the admin API of its first model: viewers list them; operators add a model as a new line
/// at run time — its ONNX file as the body (or a generated one, <c>set=Model=mlp-6-8-2</c>) and its settings as
/// <c>set=KEY=VALUE</c> in the query, the keys of <c>Aggregator:Lines:NAME</c> — and remove a line they added. Adding
/// reads the line by the configuration's rules (400 with every problem), starts its aggregator, announces it in the
/// signed catalogue and keeps it for the next start; both are audited.
/// </summary>
internal static class LinesApi
{
    public static void Map(RouteGroupBuilder admin)
    {
        admin.MapGet("/lines", (HttpContext http, [FromServices] AdminGuard guard, [FromServices] FleetLines lines, [FromServices] AggregatorOptions options) =>
            guard.Run(http, AdminRoles.Viewer, _ => Results.Ok(lines.Current.Select(l => View(l, lines.IsAdded(l.Name), options, lines.ReplicasStarved?.Invoke(l.Name))).ToArray())));

        admin.MapPost("/lines/{name}", (HttpContext http, string name, string? reason, [FromQuery] string[]? set, [FromServices] AdminGuard guard, [FromServices] FleetLines lines,
            [FromServices] AggregatorOptions options, [FromServices] AuditLog audit, [FromServices] TimeProvider time) =>
            guard.Run(http, AdminRoles.Operator, async who =>
            {
                var why = AdminGuard.Required(reason, "reason");
                if (options.Line is not null) throw new KeyNotFoundException($"model lines are added through the fleet's first model's API, not line '{options.Line}''s");
                if (lines.Current.Any(l => l.Name == name) || name == options.ModelName) return Results.Conflict(new { error = $"the fleet already runs a model named '{name}'" });
                if (ModelLinesConfiguration.NameProblem(name, options.ModelName) is { } problem) throw new BadRequestException(problem);
                var settings = Settings(set ?? []);
                var bytes = await AdminGuard.ReadBodyAsync(http, AdminApi.MaxModelBytes).ConfigureAwait(false);
                (string Path, bool Created)? file = bytes.Length > 0 ? Keep(options, name, bytes, settings) : null;
                try
                {
                    var line = await lines.AddAsync(name, settings, http.RequestAborted).ConfigureAwait(false);
                    audit.Append(time.GetUtcNow(), who.Name, "line.add", "lines/" + name, why, null, line.Options.Model.ToString());
                    return Results.Created($"/v1/admin/lines/{name}", new
                    {
                        Line = View(line, added: true, options),
                        Notice = options.ExternalBroker is null ? null
                            : $"behind an external broker the line's aggregator ({line.Identity}) needs its rules: run --write-mosquitto-config with this line and reload the broker",
                    });
                }
                catch (OptionsValidationException ex)
                {
                    if (file is { Created: true }) File.Delete(file.Value.Path);
                    return Results.BadRequest(new { error = $"model line '{name}' was not added", errors = ex.Errors });
                }
                catch (Exception ex) when (ex is InvalidOperationException or IOException or InvalidDataException or PortInUseException or Broker.BrokerUnreachableException)
                {
                    if (file is { Created: true }) File.Delete(file.Value.Path);
                    return Results.Conflict(new { error = $"model line '{name}' was not added: {ex.Message}" });
                }
            }));

        admin.MapDelete("/lines/{name}", (HttpContext http, string name, string? reason, [FromServices] AdminGuard guard, [FromServices] FleetLines lines,
            [FromServices] AuditLog audit, [FromServices] TimeProvider time) =>
            guard.Run(http, AdminRoles.Operator, async who =>
            {
                var why = AdminGuard.Required(reason, "reason");
                try
                {
                    await lines.RemoveAsync(name, http.RequestAborted).ConfigureAwait(false);
                }
                catch (InvalidOperationException ex)
                {
                    return Results.Conflict(new { error = ex.Message });
                }

                audit.Append(time.GetUtcNow(), who.Name, "line.remove", "lines/" + name, why, "running", null);
                return Results.Ok(new { Removed = name });
            }));
    }

    private static object View(ModelLineOptions line, bool added, AggregatorOptions fleet, IReadOnlyList<string>? starved = null) => new
    {
        line.Name,
        Model = line.Options.Model.ToString(),
        Url = (line.Options.PublicBaseUrl ?? new Uri(line.Options.HttpUrl)).ToString(),
        Cohort = line.Cohort,
        MemoryMb = line.MemoryRequestBytes >> 20,
        Source = added ? "added" : "configured",
        Updates = line.Options.Replicas.Enabled ? "shared over the replicas"
            : fleet.Replicas.Enabled ? "the coordinator's alone (its rule needs every update in one process)"
            : "this aggregator's",
        ReplicasStarved = starved ?? [], // connected replicas the line's coordinator finds starved of its updates (a broker rule missing)
    };

    /// <summary>Settings that name a file on the aggregator's machine: never taken from the network (the model comes as the body).</summary>
    private static readonly string[] ServerPaths = ["Evaluation:DataFile", "ModelInterface:Preprocess", "Trust:RootKeyFile"];

    /// <summary><c>KEY=VALUE</c> pairs; a key given twice, a pair without '=', or a setting naming a server file is refused.</summary>
    private static Dictionary<string, string> Settings(string[] pairs)
    {
        var settings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var pair in pairs)
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0) throw new BadRequestException($"set: '{pair}' is not KEY=VALUE (e.g. set=HttpUrl=https://127.0.0.1:8444)");
            var (key, value) = (pair[..equals], pair[(equals + 1)..]);
            if (ServerPaths.Any(p => key.Equals(p, StringComparison.OrdinalIgnoreCase)) || (key.Equals("Model", StringComparison.OrdinalIgnoreCase) && value.StartsWith("onnx:", StringComparison.OrdinalIgnoreCase)))
            {
                throw new BadRequestException($"set: '{key}' names a file on the aggregator's machine, which the API does not take: send the model as the body; a line with a preprocessing graph or held-out data is configured (Aggregator:Lines:NAME)");
            }

            if (!settings.TryAdd(key, value)) throw new BadRequestException($"set: '{key}' is given twice");
        }

        return settings;
    }

    /// <summary>The uploaded model kept by its content under <c>DATA/lines/NAME/</c> and named as the line's <c>Model</c>.</summary>
    private static (string Path, bool Created) Keep(AggregatorOptions options, string name, byte[] bytes, Dictionary<string, string> settings)
    {
        if (settings.ContainsKey("Model")) throw new BadRequestException("the model is the body or set=Model=…, not both");
        var directory = Path.GetFullPath(Path.Combine(options.DataDirectory, ModelLinesConfiguration.Section.ToLowerInvariant(), name));
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"model-{Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]}.onnx");
        var created = !File.Exists(path);
        if (created) File.WriteAllBytes(path, bytes);
        settings["Model"] = "onnx:" + path;
        return (path, created);
    }
}
