using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Http;

/// <summary>
/// A request the framework cannot bind (a limit of <c>ten</c>, a version past 2^64) answers 400 with the framework's
/// reason as the API's other errors do (<c>{"error": "Failed to bind parameter \"int? limit\" from \"ten\"."}</c>),
/// not an empty 400: route handlers throw <see cref="BadHttpRequestException"/> and this turns it into the answer.
/// </summary>
public static class BadRequestAnswers
{
    public static void AddTo(IServiceCollection services) =>
        services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);

    public static void Use(WebApplication app, ILogger log) => app.Use(async (http, next) =>
    {
        try
        {
            await next(http).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e) when (!http.Response.HasStarted)
        {
            log.LogDebug("Bad request {Method} {Path}: {Reason}", http.Request.Method, http.Request.Path, e.Message);
            http.Response.Clear();
            await Results.Json(new { error = e.Message }, statusCode: e.StatusCode).ExecuteAsync(http).ConfigureAwait(false);
        }
    });
}
