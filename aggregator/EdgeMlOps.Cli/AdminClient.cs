using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace EdgeMlOps.Cli;

/// <summary>The admin API answered with an error (its status and message are shown to the operator).</summary>
public sealed class AdminApiException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>A thin client of the aggregator's admin API (<c>/v1/admin</c>), bearer-token authenticated.</summary>
public sealed class AdminClient(HttpClient http, string? token)
{
    /// <summary>Where every successful JSON answer is also written as it came (<c>--json</c>), or null.</summary>
    public TextWriter? Echo { get; init; }

    public Task<JsonElement> GetAsync(string path, CancellationToken cancellationToken) => SendAsync(HttpMethod.Get, path, null, cancellationToken);

    public Task<string> GetTextAsync(string path, CancellationToken cancellationToken) => SendTextAsync(HttpMethod.Get, path, null, cancellationToken);

    public Task<JsonElement> PostAsync(string path, string json, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, path, new StringContent(json, Encoding.UTF8, "application/json"), cancellationToken);

    public Task<JsonElement> PutAsync(string path, string json, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Put, path, new StringContent(json, Encoding.UTF8, "application/json"), cancellationToken);

    public Task<JsonElement> DeleteAsync(string path, CancellationToken cancellationToken) => SendAsync(HttpMethod.Delete, path, null, cancellationToken);

    public Task<JsonElement> PostBytesAsync(string path, byte[] body, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, path, new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue("application/octet-stream") } }, cancellationToken);

    private async Task<JsonElement> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
    {
        var text = await SendTextAsync(method, path, content, cancellationToken).ConfigureAwait(false);
        Echo?.WriteLine(text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private async Task<string> SendTextAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        if (token is { Length: > 0 }) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (response.IsSuccessStatusCode) return text;
        string message;
        try
        {
            var answer = JsonDocument.Parse(text).RootElement;
            message = answer.GetProperty("error").GetString() ?? text;
            if (answer.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array)
            {
                message += string.Concat(errors.EnumerateArray().Select(e => Environment.NewLine + "  " + e.GetString())); // every problem, one per line
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            message = text.Length > 0 ? text : response.ReasonPhrase ?? "error";
        }

        throw new AdminApiException((int)response.StatusCode, message);
    }
}
