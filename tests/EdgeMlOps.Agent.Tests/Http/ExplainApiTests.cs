using System.Globalization;
using System.Net;
using System.Text.Json;
using EdgeMlOps.Agent.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary><c>POST /v1/explain</c> and <c>POST /v1/whatif</c> on an agent serving a 4-input, 3-class model.</summary>
public sealed class ExplainApiTests : IAsyncLifetime
{
    private const string Row = "[0.3,-1.2,0.5,2.0]";
    private OfflineAgent _device = null!;
    private LocalApi _api = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _device = await OfflineAgent.StartAsync(configure: o => o with { Explain = o.Explain with { MaxSweepValues = 8 } });
        _api = LocalApiOnAnyPort.Start(_device.Agent);
        _http = new HttpClient { BaseAddress = _api.BaseAddress() };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _api.DisposeAsync();
        await _device.DisposeAsync();
    }

    /// <summary>Labelled samples whose third input is always 0.5, as the explained row's is.</summary>
    private void AddBackground(int count)
    {
        var random = new Random(5);
        _device.Store.AddSamples(Enumerable.Range(0, count)
            .Select(_ => (new[] { (float)random.NextDouble() * 2 - 1, (float)random.NextDouble() * 4 - 2, 0.5f, (float)random.NextDouble() * 3 }, (long)random.Next(3)))
            .ToArray());
    }

    private Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(string path, string json) => _http.SendJsonAsync(HttpMethod.Post, path, json);

    private async Task<double[]> PredictAsync(string features)
    {
        var (_, body) = await PostAsync("/v1/predict", $$"""{"features":{{features}}}""");
        return body.GetProperty("probabilities").EnumerateArray().Select(p => p.GetDouble()).ToArray();
    }

    /// <summary>A value so large the model's arithmetic overflows once made the answer NaN, which JSON cannot carry: a 500. Now a 422 saying why.</summary>
    [Theory]
    [InlineData("/v1/explain", """{"features":[0.4,3e38,-0.2,4]}""")]
    [InlineData("/v1/whatif", """{"features":[0.4,3,-0.2,4],"set":{"1":3e38}}""")]
    [InlineData("/v1/whatif", """{"features":[0.4,3,-0.2,4],"sweep":{"feature":1,"values":[0,3e38]}}""")]
    public async Task AQuestionWhoseSampleOverflowsTheModel_Is422_SayingWhy(string path, string json)
    {
        AddBackground(40);
        var (status, body) = await PostAsync(path, json);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("not a finite number", body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_WithoutLabelledSamples_Is409_WithTheReason()
    {
        var (status, body) = await PostAsync("/v1/explain", $$"""{"features":{{Row}}}""");
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Contains("no labelled samples", body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_GivesExactShapleyValues_ThatAddUpToThePrediction_AndGiveAnUnchangedInputNothing()
    {
        AddBackground(40);
        var probabilities = await PredictAsync(Row);
        var (status, body) = await PostAsync("/v1/explain", $$"""{"features":{{Row}}}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var k = body.GetProperty("class").GetInt32();
        Assert.Equal(body.GetProperty("label").GetInt32(), k);
        Assert.Equal(Array.IndexOf(probabilities, probabilities.Max()), k);
        Assert.Equal("exact", body.GetProperty("method").GetString());
        Assert.Equal(16, body.GetProperty("coalitions").GetInt32());
        Assert.Equal(16, body.GetProperty("backgroundRows").GetInt32()); // the policy's newest 16 of 40
        var values = body.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.Equal(4, values.Length);
        Assert.Equal(probabilities[k], body.GetProperty("output").GetDouble(), 5);
        Assert.Equal(body.GetProperty("output").GetDouble() - body.GetProperty("baseValue").GetDouble(), values.Sum(), 9);
        Assert.Equal(0.0, values[2], 12); // the third input is 0.5 in the row and in every background row: a dummy player
        Assert.Equal(4, body.GetProperty("top").GetArrayLength());
        Assert.Equal(2, body.GetProperty("top")[3].GetProperty("feature").GetInt32());
    }

    [Fact]
    public async Task Explain_ForAnotherClass_ExplainsThatClassesProbability()
    {
        AddBackground(10);
        var probabilities = await PredictAsync(Row);
        var (status, body) = await PostAsync("/v1/explain", $$"""{"features":{{Row}},"class":1}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(1, body.GetProperty("class").GetInt32());
        Assert.Equal(probabilities[1], body.GetProperty("output").GetDouble(), 5);
        Assert.Equal(10, body.GetProperty("backgroundRows").GetInt32());
    }

    [Theory]
    [InlineData("""{"features":[1,2,3]}""", HttpStatusCode.UnprocessableEntity, "expected 4 features")]
    [InlineData("""{"features":[1,2,3,4],"class":3}""", HttpStatusCode.UnprocessableEntity, "class 3 is outside")]
    [InlineData("""{"features":[1,2,3,4],"class":"a"}""", HttpStatusCode.BadRequest, "'class' must be an integer")]
    [InlineData("""{"features":[1,2,3,4],"why":1}""", HttpStatusCode.BadRequest, "unknown field 'why'")]
    [InlineData("""{"class":1}""", HttpStatusCode.BadRequest, "body must be")]
    public async Task Explain_BadRequests_Get4xxWithReason(string json, HttpStatusCode expected, string reason)
    {
        AddBackground(4);
        var (status, body) = await PostAsync("/v1/explain", json);
        Assert.Equal(expected, status);
        Assert.Contains(reason, body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task WhatIf_AnswersAsPredictWouldForTheChangedRow_AndSweepsOneInput()
    {
        var (status, body) = await PostAsync("/v1/whatif", $$$"""{"features":{{{Row}}},"set":{"0":-0.7,"3":0.25},"sweep":{"feature":1,"values":[-2,0,2]}}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(await PredictAsync(Row), Probabilities(body.GetProperty("original")));
        Assert.Equal(await PredictAsync("[-0.7,-1.2,0.5,0.25]"), Probabilities(body.GetProperty("changed")));
        var points = body.GetProperty("sweep").GetProperty("points").EnumerateArray().ToArray();
        Assert.Equal(3, points.Length);
        foreach (var point in points)
        {
            var x = point.GetProperty("value").GetDouble().ToString(CultureInfo.InvariantCulture);
            Assert.Equal(await PredictAsync($"[-0.7,{x},0.5,0.25]"), Probabilities(point));
        }
    }

    [Theory]
    [InlineData("""{"features":[1,2,3,4]}""", HttpStatusCode.UnprocessableEntity, "say what to change")]
    [InlineData("""{"features":[1,2,3,4],"set":{"4":1}}""", HttpStatusCode.UnprocessableEntity, "feature 4 is outside")]
    [InlineData("""{"features":[1,2,3,4],"set":{"x":1}}""", HttpStatusCode.BadRequest, "not a feature index")]
    [InlineData("""{"features":[1,2,3,4],"set":{"1":"a"}}""", HttpStatusCode.BadRequest, "not a finite number")]
    [InlineData("""{"features":[1,2,3,4],"sweep":{"feature":1,"values":[1,2,3,4,5,6,7,8,9]}}""", HttpStatusCode.UnprocessableEntity, "at most 8 values")]
    [InlineData("""{"features":[1,2,3,4],"sweep":{"feature":1,"values":[1,1e999]}}""", HttpStatusCode.BadRequest, "sweep.values[1]")]
    [InlineData("""{"features":[1,2,3,4],"sweep":{"values":[1]}}""", HttpStatusCode.BadRequest, "needs a 'feature'")]
    public async Task WhatIf_BadRequests_Get4xxWithReason(string json, HttpStatusCode expected, string reason)
    {
        var (status, body) = await PostAsync("/v1/whatif", json);
        Assert.Equal(expected, status);
        Assert.Contains(reason, body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    private static double[] Probabilities(JsonElement prediction) => prediction.GetProperty("probabilities").EnumerateArray().Select(p => p.GetDouble()).ToArray();
}
