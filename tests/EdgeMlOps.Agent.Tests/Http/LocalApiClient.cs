using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>One request to an agent's local API, answered as status and parsed JSON body.</summary>
internal static class LocalApiClient
{
    /// <summary>Floats as a JSON array's items, each written so it reads back to the same float.</summary>
    public static string Numbers(IEnumerable<float> values) => string.Join(',', values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));

    public static async Task<(HttpStatusCode Status, JsonElement Body)> SendJsonAsync(this HttpClient http, HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        return (response.StatusCode, body);
    }
}
