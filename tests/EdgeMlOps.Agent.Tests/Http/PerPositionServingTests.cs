using System.Net;
using EdgeMlOps.Shared.Onnx;

using static EdgeMlOps.Agent.Tests.Http.LocalApiClient;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>
/// A per-pixel classifier exported by PyTorch (a digit scan in, 11 classes at each of its 8×8 pixels out) on a real
/// agent's local API: it answers the class PyTorch's logits give at every pixel, takes its ground truth as a class id
/// per pixel, and refuses what is not a class id.
/// </summary>
public sealed class PerPositionServingTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public async Task TheLocalApi_AnswersAClassPerPixel_AndTakesAClassIdPerPixel_ForPyTorchsSegmenter()
    {
        var bytes = await File.ReadAllBytesAsync(Fixture("pytorch_digit_segmenter.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { PerPosition = true });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        var http = serving.Http;
        var declared = (await http.SendJsonAsync(HttpMethod.Get, "/v1/model")).Body.GetProperty("interface");
        Assert.Equal("logits of 11 classes at each of [8, 8] positions per row (softmax applied on the device), a class id per position", declared.GetProperty("outputKind").GetString());
        Assert.Equal([8L, 8L], declared.GetProperty("valuesShape").EnumerateArray().Select(d => d.GetInt64()));

        using var expected = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(Fixture("digit_segmenter_expected.json")));
        float[] Floats(string name) => [.. expected.RootElement.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        var (pixels, logits, classes) = (Floats("pixels"), Floats("segments"), Floats("classes"));
        var scan = pixels.AsSpan(64, 64).ToArray(); // the second of the six scans
        var (status, body) = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(scan)}}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var answered = body.GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var pytorch = Enumerable.Range(0, 64).Select(j => Enumerable.Range(0, 11).MaxBy(c => logits[(11 * 64) + (c * 64) + j])).ToArray();
        Assert.Equal(pytorch, answered);
        Assert.False(body.TryGetProperty("values", out _));

        // Ground truth: a class id per pixel. One that is not (a fraction, a class beyond 10, too few) is a 422, nothing kept.
        var id = body.GetProperty("predictionId").GetString();
        var truth = classes.AsSpan(64, 64).ToArray();
        foreach (var (bad, reason) in new[] { (truth[..^1].Append(2.5f), "target[63] is 2.5: a per-position classifier's target is a class id (0 to 10) per position"), (truth[..^1].Append(11f), "target[63] is 11"), (truth[..8], "expected 64 target values, got 8") })
        {
            var refused = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{id}}","target":[{{Numbers([.. bad])}}]}""");
            Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Status);
            Assert.Contains(reason, refused.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal(0, serving.Device.Store.SampleCount);
        Assert.Equal(HttpStatusCode.OK, (await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{id}}","target":[{{Numbers(truth)}}]}""")).Status);
        Assert.Equal(truth, serving.Device.Store.LoadTargets(inputDim: 64, targetWidth: 64).Targets);
    }
}
