using System.Net;
using EdgeMlOps.Shared.Onnx;

using static EdgeMlOps.Agent.Tests.Http.LocalApiClient;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>
/// A CNN exported without <c>dynamic_axes</c> (export_digit_batch_one.py: its batch fixed at 1, a Reshape to [1, −1]
/// inside) on a real agent's local API: it answers as PyTorch computes, keeps ground truth, and explains a prediction —
/// which runs many perturbed rows through a file that takes one at a time.
/// </summary>
public sealed class BatchOfOneServingTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public async Task TheLocalApi_AnswersAsPyTorch_AndExplainsThroughAFileThatTakesOneRowAtATime()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_batch_one.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all"));
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture("digit_batch_one_expected.json")));
        float[] Floats(string name) => [.. expected.RootElement.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        var (scans, logits) = (Floats("scans"), Floats("logits"));
        var digits = expected.RootElement.GetProperty("digits").EnumerateArray().Select(d => d.GetInt32()).ToArray();

        for (var row = 0; row < 6; row++)
        {
            var (status, body) = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(scans.AsSpan(row * 64, 64).ToArray())}}]}""");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(logits.Skip(row * 10).Take(10).Select((v, i) => (v, i)).Max().i, body.GetProperty("label").GetInt32());
            var id = body.GetProperty("predictionId").GetString();
            Assert.Equal(HttpStatusCode.OK, (await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{id}}","label":{{digits[row]}}}""")).Status);
        }

        var explain = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/explain", $$"""{"features":[{{Numbers(scans.AsSpan(0, 64).ToArray())}}]}""");
        Assert.Equal(HttpStatusCode.OK, explain.Status);
        var values = explain.Body.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.Equal(64, values.Length);
        Assert.Equal(explain.Body.GetProperty("output").GetDouble() - explain.Body.GetProperty("baseValue").GetDouble(), values.Sum(), 4);
    }
}
