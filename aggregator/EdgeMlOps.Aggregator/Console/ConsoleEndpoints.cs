using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace EdgeMlOps.Aggregator.Console;

/// <summary>
/// The operators' web console: three static files compiled into the aggregator (no CDN, no build
/// step), served at <c>/console/</c> on the admin API's origin. The page holds the bearer token in the
/// tab's session storage and calls the same admin API with it, so roles and four eyes are the API's.
/// A strict Content-Security-Policy allows only these files; the script renders every value as text.
/// </summary>
internal static class ConsoleEndpoints
{
    private const string Policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

    private static readonly (string Path, string Resource, string ContentType)[] Files =
    [
        ("/console/", "index.html", "text/html; charset=utf-8"),
        ("/console/app.js", "app.js", "text/javascript; charset=utf-8"),
        ("/console/app.css", "app.css", "text/css; charset=utf-8"),
    ];

    public static void Map(WebApplication app)
    {
        app.MapGet("/", () => Results.Redirect("/console/"));
        foreach (var (path, resource, contentType) in Files)
        {
            var bytes = Read(resource);
            app.MapGet(path, (HttpContext http) =>
            {
                http.Response.Headers.ContentSecurityPolicy = Policy;
                http.Response.Headers.XContentTypeOptions = "nosniff";
                http.Response.Headers.XFrameOptions = "DENY";
                http.Response.Headers["Referrer-Policy"] = "no-referrer";
                http.Response.Headers.CacheControl = "no-cache";
                return Results.Bytes(bytes, contentType);
            });
        }
    }

    private static byte[] Read(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"EdgeMlOps.Aggregator.Console.{name}")
            ?? throw new InvalidOperationException($"console file {name} is not embedded");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }
}
