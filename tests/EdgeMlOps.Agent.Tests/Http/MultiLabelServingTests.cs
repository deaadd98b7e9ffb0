using System.Globalization;
using System.Net;
using EdgeMlOps.Shared.Onnx;
using Microsoft.ML.OnnxRuntime;

using static EdgeMlOps.Agent.Tests.Http.LocalApiClient;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>
/// A multi-label classifier exported by PyTorch (scikit-learn's digit scans → four attributes) on a real agent's local
/// API: it answers each label's probability as ONNX Runtime does on the original file and the labels present, takes
/// its ground truth as a 0/1 target per label, keeps it for training, and refuses what is not a label vector.
/// </summary>
public sealed class MultiLabelServingTests
{
    private static readonly byte[] Attributes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_digit_attributes.onnx"));

    [Fact]
    public async Task TheLocalApi_AnswersLabelProbabilities_AndTakesLabelVectors_ForAPyTorchMultiLabelClassifier()
    {
        var model = UploadedClassifier.Open(Attributes, new UploadedClassifierOptions("all") { MultiLabel = true });
        await using var serving = await ServingAgent.StartAsync(model, Attributes);
        var http = serving.Http;
        var declared = (await http.SendJsonAsync(HttpMethod.Get, "/v1/model")).Body.GetProperty("interface");
        Assert.Equal(("attributes", "4 independent label probabilities per row, any number of labels true"), (declared.GetProperty("output").GetString(), declared.GetProperty("outputKind").GetString()));

        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "digit_attributes_expected.json")));
        var rows = expected.RootElement.GetProperty("rows").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        using var original = new InferenceSession(Attributes);
        using var input = OrtValue.CreateTensorValueFromMemory(rows, [6, 64]);
        using var runOptions = new RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
        using var outputs = original.Run(runOptions, ["pixels"], [input], ["attributes"]);
        var reference = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        var ids = new List<string>();
        for (var row = 0; row < 6; row++)
        {
            var (status, body) = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(rows.AsSpan(row * 64, 64).ToArray())}}]}""");
            Assert.Equal(HttpStatusCode.OK, status);
            var probabilities = body.GetProperty("probabilities").EnumerateArray().Select(v => v.GetSingle()).ToArray();
            Assert.Equal(4, probabilities.Length);
            Assert.All(reference.AsSpan(row * 4, 4).ToArray().Zip(probabilities), p => Assert.Equal(p.First, p.Second, 5));
            var present = Enumerable.Range(0, 4).Where(j => reference[(row * 4) + j] > 0.5f).ToArray();
            Assert.Equal(present, body.GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()).ToArray());
            Assert.False(body.TryGetProperty("label", out _));
            ids.Add(body.GetProperty("predictionId").GetString()!);
        }

        // Ground truth is one 0/1 per label: by prediction id, or with the features; the device keeps it for training.
        Assert.Equal(HttpStatusCode.OK, (await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{ids[0]}}","target":[1,0,0,1]}""")).Status);
        Assert.Equal(HttpStatusCode.OK, (await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{Numbers(rows.AsSpan(64, 64).ToArray())}}],"target":[0,1,1,0]}""")).Status);
        var kept = serving.Device.Store.LoadTargets(64, 4);
        Assert.Equal(new[] { 0f, 1, 1, 0, 1, 0, 0, 1 }, kept.Targets);
        Assert.Equal(rows.AsSpan(0, 64).ToArray(), kept.Features.AsSpan(64, 64).ToArray()); // the predicted scan, as it was served

        // What is not a label vector is refused, naming why; nothing is stored.
        var half = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{ids[1]}}","target":[1,0.5,0,0]}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, half.Status);
        Assert.Equal("target[1] is 0.5: a multi-label classifier's target is 0 or 1 per label", half.Body.GetProperty("error").GetString()); // said once, no parameter names
        var label = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{ids[1]}}","label":1}""");
        Assert.Equal(HttpStatusCode.BadRequest, label.Status);
        Assert.Contains("this model is a multi-label classifier", label.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        var narrow = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{ids[1]}}","target":[1,0]}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, narrow.Status);
        Assert.Contains("expected 4 target values, got 2", narrow.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        var explain = await http.SendJsonAsync(HttpMethod.Post, "/v1/explain", $$"""{"features":[{{Numbers(rows.AsSpan(0, 64).ToArray())}}]}""");
        Assert.Equal(HttpStatusCode.Conflict, explain.Status);
        Assert.Contains("multi-label classifier", explain.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, serving.Device.Store.SampleCount);
    }
}
