using System.Net.Http.Headers;

namespace EdgeMlOps.Tests;

/// <summary>
/// The read-only admin identity tests sign in with: what the fleet is and does (<c>/metrics</c>, <c>/v1/strategy</c>,
/// <c>/v1/fleet/devices</c>…) is served only to the admin API's identities.
/// </summary>
internal static class Viewer
{
    public const string Name = "tests-viewer";

    public const string Token = "tests-viewer-token";

    /// <summary>An HTTP client for <paramref name="baseAddress"/> that presents the viewer's token.</summary>
    public static HttpClient Client(Uri baseAddress)
    {
        var client = new HttpClient { BaseAddress = baseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return client;
    }
}
