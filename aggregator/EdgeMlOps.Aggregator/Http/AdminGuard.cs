using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using EdgeMlOps.Aggregator.Governance;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Http;

/// <summary>
/// The admin API's endpoints' frame: authenticates the caller through ASP.NET Core's authentication
/// (<see cref="AdminTokenAuthentication"/>: no or unknown token is 401) and authorizes the role through its policies
/// (a role without the right is 403), then runs the action and maps rule violations to 4xx (governance 403/409,
/// unknown 404, bad input 400); anything else is logged and 500.
/// </summary>
internal sealed class AdminGuard(IReadOnlyList<AdminIdentity> identities, IAuthorizationService authorization, ILogger logger, Security.SignInThrottle? signIns = null)
{
    /// <summary>Largest admin JSON request body accepted.</summary>
    private const int MaxBodyBytes = 64 * 1024;

    /// <summary>Reads the request body, refusing (400) anything over <paramref name="limit"/> bytes without buffering it.</summary>
    public static async Task<byte[]> ReadBodyAsync(HttpContext http, int limit)
    {
        if (http.Request.ContentLength > limit) throw new BadRequestException($"request body over {limit} bytes");
        if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } server)
        {
            server.MaxRequestBodySize = null; // this call's own limit below, not the server's default 30 MB (a model may be 256 MiB)
        }

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

    public static string Required(string? value, string name) =>
        string.IsNullOrWhiteSpace(value) ? throw new BadRequestException($"'{name}' is required") : value;

    /// <summary>Authenticates and authorizes, then runs <paramref name="action"/>, mapping rule violations to 4xx.</summary>
    public async Task<IResult> Run(HttpContext http, string role, Func<AdminIdentity, Task<IResult>> action)
    {
        if (signIns?.RetryAfter(http.Connection.RemoteIpAddress) is { } wait) return TooManyFailures(http, wait);
        var authenticated = await http.AuthenticateAsync(AdminTokenAuthentication.SchemeName).ConfigureAwait(false);
        if (!authenticated.Succeeded || authenticated.Principal.Identity?.Name is not { } name)
        {
            if (http.Request.Headers.Authorization.Count > 0) signIns?.Failed(http.Connection.RemoteIpAddress); // a token tried, not a page opened before signing in
            return Results.Json(new { error = authenticated.Failure?.Message ?? "missing bearer token" }, statusCode: StatusCodes.Status401Unauthorized);
        }

        http.User = authenticated.Principal;
        if (!(await authorization.AuthorizeAsync(http.User, AdminTokenAuthentication.Policy(role)).ConfigureAwait(false)).Succeeded)
        {
            return Results.Json(new { error = $"{name} lacks the '{role}' role" }, statusCode: StatusCodes.Status403Forbidden);
        }

        var identity = identities.First(i => i.Name == name);
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
        catch (Exception ex) when (Storage.StorageFull.Is(ex))
        {
            logger.LogAdminFailure(http.Request.Path, ex);
            return Results.Json(new { error = $"the aggregator's storage is full ({ex.Message}): the request was refused. Free space in its data directory (or its database) and try again" }, statusCode: StatusCodes.Status507InsufficientStorage);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            logger.LogAdminFailure(http.Request.Path, ex);
            return Results.Json(new { error = $"internal error: {ex.Message}" }, statusCode: StatusCodes.Status500InternalServerError);
        }
    }

    /// <summary>429 with <c>Retry-After</c>: too many failed sign-ins from the caller's address within a minute.</summary>
    public static IResult TooManyFailures(HttpContext http, TimeSpan wait)
    {
        var seconds = (int)Math.Ceiling(wait.TotalSeconds);
        http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Results.Json(new { error = $"too many failed sign-ins from this address: try again in {seconds} s" }, statusCode: StatusCodes.Status429TooManyRequests);
    }

    public Task<IResult> Run(HttpContext http, string role, Func<AdminIdentity, IResult> action) =>
        Run(http, role, who => Task.FromResult(action(who)));

    public Task<IResult> RunWithBody<T>(HttpContext http, string role, JsonTypeInfo<T> type, Func<AdminIdentity, T, IResult> action) =>
        RunWithBody(http, role, type, (who, body) => Task.FromResult(action(who, body)));

    public Task<IResult> RunWithBody<T>(HttpContext http, string role, JsonTypeInfo<T> type, Func<AdminIdentity, T, Task<IResult>> action) =>
        Run(http, role, async who =>
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
