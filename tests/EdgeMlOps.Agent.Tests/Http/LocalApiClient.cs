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

    /// <summary>The compact body of <c>/v1/infer/bin</c> (see <see cref="EdgeMlOps.Agent.Http.TensorBinary"/>), written here independently of the parser.</summary>
    public static byte[] Binary(string? session, params (string Name, long[] Dims, byte[] Values)[] inputs)
    {
        using var stream = new MemoryStream();
        using var w = new BinaryWriter(stream);
        w.Write("EMT1"u8);
        var id = System.Text.Encoding.UTF8.GetBytes(session ?? string.Empty);
        w.Write((ushort)id.Length);
        w.Write(id);
        w.Write((ushort)inputs.Length);
        foreach (var (name, dims, values) in inputs)
        {
            var n = System.Text.Encoding.UTF8.GetBytes(name);
            w.Write((ushort)n.Length);
            w.Write(n);
            w.Write((byte)dims.Length);
            foreach (var d in dims) w.Write(d);
            w.Write(values);
        }

        return stream.ToArray();
    }

    public static byte[] Raw(float[] values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
}
