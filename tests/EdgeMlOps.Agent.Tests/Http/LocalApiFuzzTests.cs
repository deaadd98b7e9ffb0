using System.Globalization;
using System.Net;
using System.Text;
using EdgeMlOps.Shared.Onnx;
using Xunit.Abstractions;

using static EdgeMlOps.Agent.Tests.Http.LocalApiClient;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>
/// Mutation fuzzing of what the local API does with a request, past the HTTP layer (<see cref="LocalHttpServerFuzzTests"/>):
/// valid bodies for every route of a real agent — a classifier (predict as JSON and as raw float32, feedback, explain,
/// what-if) and PyTorch's stateful GRU (tensors by name as JSON and as the compact binary body) — with tokens swapped
/// for extreme numbers, nulls, nesting and strings, spans cut or doubled, bytes flipped. Every one is answered below
/// 500 with a reason, and the agent serves a valid request afterwards. Seeded (<see cref="Seed"/>).
/// </summary>
public sealed class LocalApiFuzzTests(ITestOutputHelper output)
{
    /// <summary>The draw: <c>EDGEMLOPS_FUZZ_SEED</c> replays another.</summary>
    private static int Seed => FuzzSeed.Value;

    private static async Task<HttpStatusCode> PostAsync(HttpClient http, string path, byte[] body, string type)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(type);
        using var response = await http.PostAsync(path, content);
        return response.StatusCode;
    }

    /// <summary>Sends <paramref name="count"/> mutations drawn over the seeds; returns how many got each status.</summary>
    private static async Task<SortedDictionary<int, int>> FuzzAsync(HttpClient http, (string Path, string? Json, byte[]? Bytes)[] seeds, int count, int seed)
    {
        var random = new Random(seed);
        var statuses = new SortedDictionary<int, int>();
        for (var i = 0; i < count; i++)
        {
            var (path, json, bytes) = seeds[i % seeds.Length];
            var body = json is not null ? Encoding.UTF8.GetBytes(JsonMutator.Mutate(json, random)) : ByteMutator.Mutate(bytes!, random);
            var status = (int)await PostAsync(http, path, body, json is not null ? "application/json" : "application/octet-stream");
            Assert.True(status < 500, $"{path} answered {status} to {(json is not null ? Encoding.UTF8.GetString(body) : Convert.ToBase64String(body))}");
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
        }

        return statuses;
    }

    [Fact]
    public async Task MutatedRequests_ToAClassifiersRoutes_AreAnsweredBelow500_AndItServesOn()
    {
        await using var device = await OfflineAgent.StartAsync();
        await using var api = LocalApiOnAnyPort.Start(device.Agent);
        using var http = new HttpClient { BaseAddress = api.BaseAddress() };
        const string row = "[0.1,0.2,-0.3,4]";
        var (_, predicted) = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":{{row}}}""");
        var id = predicted.GetProperty("predictionId").GetString();
        (string, string?, byte[]?)[] seeds =
        [
            ("/v1/predict", $$"""{"features":{{row}}}""", null),
            ("/v1/predict", $$"""{"samples":[{{row}},{{row}}]}""", null),
            ("/v1/feedback", $$"""{"features":{{row}},"label":2}""", null),
            ("/v1/feedback", $$"""{"predictionId":"{{id}}","label":1}""", null),
            ("/v1/explain", $$"""{"features":{{row}},"class":1}""", null),
            ("/v1/whatif", $$$"""{"features":{{{row}}},"set":{"0":-0.7,"3":0.25},"sweep":{"feature":1,"values":[-2,0,2]}}""", null),
            ("/v1/predict/f32", null, Raw([0.1f, 0.2f, -0.3f, 4f])),
        ];

        var statuses = await FuzzAsync(http, seeds, 2100, seed: Seed);
        output.WriteLine(string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}")));
        Assert.True(statuses.Keys.Count(s => s >= 400) >= 3, "the mutations reach several refusals");
        Assert.Equal(HttpStatusCode.OK, (await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":{{row}}}""")).Status);
    }

    [Fact]
    public async Task MutatedRequests_ToAStatefulModelsTensorRoutes_AreAnsweredBelow500_AndItServesOn()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_gru_keyword.onnx"));
        await using var serving = await ServingAgent.StartAsync(UploadedClassifier.OpenTensors(bytes, [("h_in", "h_out")]), bytes);
        var frames = string.Join(',', Enumerable.Range(0, 24).Select(i => (i / 10f).ToString(CultureInfo.InvariantCulture)));
        var json = $$$"""{"inputs":{"frames":{"dims":[1,3,8],"data":[{{{frames}}}]}},"session":"mic-1"}""";
        (string, string?, byte[]?)[] seeds =
        [
            ("/v1/infer", json, null),
            ("/v1/infer/bin", null, Binary("mic-2", ("frames", [1, 3, 8], Raw([.. Enumerable.Range(0, 24).Select(i => i / 10f)])))),
        ];

        var statuses = await FuzzAsync(serving.Http, seeds, 1500, seed: Seed);
        output.WriteLine(string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}")));
        Assert.True(statuses.Keys.Count(s => s >= 400) >= 2, "the mutations reach several refusals");
        Assert.Equal(HttpStatusCode.OK, (await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/infer", json)).Status);
    }
}
