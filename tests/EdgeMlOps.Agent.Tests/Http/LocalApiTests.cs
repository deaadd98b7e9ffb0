using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using EdgeMlOps.Agent.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Agent.Tests.Http;

public sealed class LocalApiTests : IAsyncLifetime
{
    private OfflineAgent _device = null!;
    private LocalApi _api = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _device = await OfflineAgent.StartAsync();
        _api = LocalApiOnAnyPort.Start(_device.Agent, new LocalApiOptions { Limits = new LocalHttpLimits { MaxBodyBytes = 4096 } });
        _http = new HttpClient { BaseAddress = _api.BaseAddress() };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _api.DisposeAsync();
        await _device.DisposeAsync();
    }

    private Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpMethod method, string path, string? json = null) =>
        _http.SendJsonAsync(method, path, json);

    [Fact]
    public async Task Predict_ThenFeedbackById_StoresALabelledSample()
    {
        var (status, body) = await SendAsync(HttpMethod.Post, "/v1/predict", """{"features":[0.1,0.2,-0.3,4]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(3UL, body.GetProperty("modelVersion").GetUInt64());
        var probabilities = body.GetProperty("probabilities").EnumerateArray().Select(p => p.GetDouble()).ToArray();
        Assert.Equal(3, probabilities.Length);
        Assert.Equal(1.0, probabilities.Sum(), 4);
        Assert.Equal(Array.IndexOf(probabilities, probabilities.Max()), body.GetProperty("label").GetInt32());

        var id = body.GetProperty("predictionId").GetString();
        var feedback = await SendAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{id}}","label":2}""");
        Assert.Equal(HttpStatusCode.OK, feedback.Status);
        Assert.Equal(1, _device.Store.SampleCount);
        Assert.Equal(new long[] { 2 }, _device.Store.LoadSamples(4).Labels);

        var again = await SendAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{id}}","label":2}""");
        Assert.Equal(HttpStatusCode.NotFound, again.Status);
    }

    [Theory]
    [InlineData("""{"features":[1,2,3]}""", HttpStatusCode.UnprocessableEntity, "expected 4 features")]
    [InlineData("""{"features":[1,"x",3,4]}""", HttpStatusCode.BadRequest, "features[1]")]
    [InlineData("""{"features":[1,2,3,1e999]}""", HttpStatusCode.BadRequest, "features[3]")]
    [InlineData("""{"features":1}""", HttpStatusCode.BadRequest, "array")]
    [InlineData("""not json""", HttpStatusCode.BadRequest, "JSON")]
    [InlineData("""{"features":[1,2,3,4],"colour":"red"}""", HttpStatusCode.BadRequest, "unknown field")]
    [InlineData("""{"features":[1,2,3,4],"label":1}""", HttpStatusCode.BadRequest, "feedback")]
    public async Task Predict_BadRequests_Get4xxWithReason(string json, HttpStatusCode expected, string reason)
    {
        var (status, body) = await SendAsync(HttpMethod.Post, "/v1/predict", json);
        Assert.Equal(expected, status);
        Assert.Contains(reason, body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.True(_api.ClientErrors >= 1);
    }

    /// <summary>
    /// A finite value so large the model's arithmetic overflows (found by <see cref="LocalApiFuzzTests"/>) once answered 500.
    /// It is the sample's fault: a 422 saying so, counted, and nothing kept.
    /// </summary>
    [Theory]
    [InlineData("/v1/predict", """{"features":[0.4,3e38,-0.2,4]}""")]
    [InlineData("/v1/feedback", """{"features":[0.4,3e38,-0.2,4],"label":1}""")]
    public async Task ASampleThatOverflowsTheModel_Is422_AndCounted(string path, string json)
    {
        var (status, body) = await SendAsync(HttpMethod.Post, path, json);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("finite", body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, _device.Store.SampleCount);
        Assert.Equal(1, Interlocked.Read(ref _device.Agent.Counters.SamplesRefused));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/v1/predict", """{"features":[0.4,3,-0.2,4]}""")).Status);
    }

    [Fact]
    public async Task OversizedBody_Gets413()
    {
        var big = "{\"features\":[" + string.Join(',', Enumerable.Repeat("0.123456789", 1000)) + "]}";
        var (status, _) = await SendAsync(HttpMethod.Post, "/v1/predict", big);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
    }

    [Fact]
    public async Task ChunkedBodies_WithoutALength_AreReadWhole_OrRefusedPastTheLimit()
    {
        async Task<HttpStatusCode> SendChunkedAsync(string json)
        {
            // A stream of unknown length: HttpClient sends it chunked, with no Content-Length for the agent to trust.
            using var content = new StreamContent(new UnseekableStream(Encoding.UTF8.GetBytes(json)));
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var response = await _http.PostAsync("/v1/predict", content);
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.OK, await SendChunkedAsync("{\"features\":[" + string.Join(',', Enumerable.Repeat("0.25", 4)) + "]" + new string(' ', 3000) + "}"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await SendChunkedAsync("{\"features\":[" + string.Join(',', Enumerable.Repeat("0.123456789", 1000)) + "]}"));
    }

    private sealed class UnseekableStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }

    [Fact]
    public async Task StartThenDisposeAtOnce_NeverHangs()
    {
        // Disposing right after starting races the accept loop's first wait for a connection; it must still return.
        // Four at a time, so the loop's thread can be preempted anywhere in between.
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 50; i++)
            {
                var api = LocalApiOnAnyPort.Start(_device.Agent);
                await api.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            }
        })));
    }

    [Fact]
    public async Task Feedback_WithFeatures_AndBadLabels()
    {
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/v1/feedback", """{"features":[1,2,3,4],"label":0}""")).Status);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, (await SendAsync(HttpMethod.Post, "/v1/feedback", """{"features":[1,2,3,4],"label":7}""")).Status);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, (await SendAsync(HttpMethod.Post, "/v1/feedback", """{"features":[1,2],"label":1}""")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, "/v1/feedback", """{"label":1}""")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Post, "/v1/feedback", """{"predictionId":"nope","label":1}""")).Status);
        Assert.Equal(1, _device.Store.SampleCount);
    }

    [Fact]
    public async Task HealthModelAndRouting()
    {
        for (var i = 0; i < 20; i++) await SendAsync(HttpMethod.Post, "/v1/predict", """{"features":[1,2,3,4]}""");
        var health = await SendAsync(HttpMethod.Get, "/v1/health");
        Assert.Equal(HttpStatusCode.OK, health.Status);
        Assert.Equal("cpu", health.Body.GetProperty("executionProvider").GetString());
        Assert.Equal(20, health.Body.GetProperty("predictions").GetInt64());
        Assert.InRange(health.Body.GetProperty("latencyP50Ms").GetDouble(), 0.0005, 100);
        Assert.True(health.Body.GetProperty("latencyP99Ms").GetDouble() >= health.Body.GetProperty("latencyP50Ms").GetDouble());
        Assert.True(health.Body.GetProperty("rssBytes").GetInt64() > 1_000_000);
        Assert.Equal("ok", health.Body.GetProperty("status").GetString());
        Assert.False(health.Body.GetProperty("connected").GetBoolean());
        Assert.Equal(0, health.Body.GetProperty("outboxUnheard").GetInt64());

        var model = await SendAsync(HttpMethod.Get, "/v1/model");
        Assert.Equal(3UL, model.Body.GetProperty("version").GetUInt64());
        Assert.Equal(4, model.Body.GetProperty("inputDim").GetInt32());
        Assert.Equal([5], model.Body.GetProperty("hidden").EnumerateArray().Select(h => h.GetInt32()));

        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, "/v2/anything")).Status);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await SendAsync(HttpMethod.Get, "/v1/predict")).Status);
    }

    [Fact]
    public async Task DeleteData_ErasesSamplesPredictionsAndOutbox()
    {
        await SendAsync(HttpMethod.Post, "/v1/feedback", """{"features":[1,2,3,4],"label":0}""");
        var predicted = await SendAsync(HttpMethod.Post, "/v1/predict", """{"features":[1,2,3,4]}""");
        _device.Outbox.Enqueue("t", [1, 2]);

        var (status, body) = await SendAsync(HttpMethod.Delete, "/v1/data");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(1, body.GetProperty("samplesErased").GetInt32());
        Assert.Equal(1, body.GetProperty("predictionsErased").GetInt32());
        Assert.Equal(1, body.GetProperty("outboxMessagesErased").GetInt32());
        Assert.Equal(0, _device.Store.SampleCount);
        Assert.Equal(0, _device.Outbox.Count);
        var id = predicted.Body.GetProperty("predictionId").GetString();
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{id}}","label":1}""")).Status);
    }

    [Fact]
    public async Task WithoutModel_PredictIs503_AndHealthSaysSo()
    {
        await using var empty = await OfflineAgent.StartAsync(installModel: false);
        await using var api = LocalApiOnAnyPort.Start(empty.Agent);
        using var http = new HttpClient { BaseAddress = api.BaseAddress() };
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.PostAsJsonAsync("/v1/predict", new { features = new[] { 1, 2, 3, 4 } })).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/v1/health")).StatusCode);
    }
}
