using System.Globalization;
using System.Net;
using EdgeMlOps.Shared.Onnx;
using Microsoft.ML.OnnxRuntime;

using static EdgeMlOps.Agent.Tests.Http.LocalApiClient;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>
/// A regressor exported by PyTorch (scikit-learn's diabetes patients → disease progression) on a real agent's local
/// API: it answers values as ONNX Runtime does on the original file, takes its ground truth as a target, keeps it for
/// training, and says where class-only routes do not apply.
/// </summary>
public sealed class RegressorServingTests
{
    private static readonly byte[] Regressor = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_diabetes_regressor.onnx"));

    [Fact]
    public async Task TheLocalApi_AnswersValues_AndTakesTargets_ForAPyTorchRegressor()
    {
        var model = UploadedClassifier.Open(Regressor, new UploadedClassifierOptions("all") { Regression = true });
        await using var serving = await ServingAgent.StartAsync(model, Regressor);
        var http = serving.Http;
        var declared = (await http.SendJsonAsync(HttpMethod.Get, "/v1/model")).Body.GetProperty("interface");
        Assert.Equal(("progression", "one regression value per row"), (declared.GetProperty("output").GetString(), declared.GetProperty("outputKind").GetString()));

        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "diabetes_regressor_expected.json")));
        var rows = expected.RootElement.GetProperty("rows").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        using var original = new InferenceSession(Regressor);
        using var input = OrtValue.CreateTensorValueFromMemory(rows, [6, 10]);
        using var runOptions = new RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
        using var outputs = original.Run(runOptions, ["features"], [input], ["progression"]);
        var reference = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        var ids = new List<string>();
        for (var row = 0; row < 6; row++)
        {
            var (status, body) = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(rows.AsSpan(row * 10, 10).ToArray())}}]}""");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(reference[row], body.GetProperty("values")[0].GetSingle(), 5);
            Assert.False(body.TryGetProperty("label", out _));
            ids.Add(body.GetProperty("predictionId").GetString()!);
        }

        // Ground truth is a target: by prediction id, or with the features; the device keeps it for training.
        Assert.Equal(HttpStatusCode.OK, (await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{ids[0]}}","target":[1.51]}""")).Status);
        Assert.Equal(HttpStatusCode.OK, (await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{Numbers(rows.AsSpan(10, 10).ToArray())}}],"target":[0.75]}""")).Status);
        var kept = serving.Device.Store.LoadTargets(10, 1);
        Assert.Equal(new[] { 0.75f, 1.51f }, kept.Targets);
        Assert.Equal(rows.AsSpan(0, 10).ToArray(), kept.Features.AsSpan(10, 10).ToArray()); // the predicted sample, as it was served

        // What does not fit is refused, naming why; nothing is stored.
        var label = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{ids[1]}}","label":1}""");
        Assert.Equal(HttpStatusCode.BadRequest, label.Status);
        Assert.Contains("this model is a regressor", label.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        var wide = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{ids[1]}}","target":[1,2]}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, wide.Status);
        Assert.Contains("expected 1 target values, got 2", wide.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{ids[0]}}","target":[1]}""")).Status); // labelled once
        var explain = await http.SendJsonAsync(HttpMethod.Post, "/v1/explain", $$"""{"features":[{{Numbers(rows.AsSpan(0, 10).ToArray())}}]}""");
        Assert.Equal(HttpStatusCode.Conflict, explain.Status);
        Assert.Equal(2, serving.Device.Store.SampleCount);
    }

    /// <summary>
    /// A regressor on the second of two outputs, with several axes (PyTorch's digit completion: a scan's upper half in,
    /// its lower half [batch, 4, 8] out): the local API says its shape, answers its 32 values row-major as ONNX Runtime
    /// makes them on the original file, and keeps 32 targets per sample in that order.
    /// </summary>
    [Fact]
    public async Task TheLocalApi_AnswersAndTakesValuesShapedLikeTheOutput_ForARegressorOnOneOfTwoOutputs()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_digit_completion.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Regression = true, Output = "bottom" });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        var http = serving.Http;
        var declared = (await http.SendJsonAsync(HttpMethod.Get, "/v1/model")).Body.GetProperty("interface");
        Assert.Equal(("bottom", "32 regression values per row, [4, 8] row-major"), (declared.GetProperty("output").GetString(), declared.GetProperty("outputKind").GetString()));
        Assert.Equal([4L, 8L], declared.GetProperty("valuesShape").EnumerateArray().Select(d => d.GetInt64()));

        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "digit_completion_expected.json")));
        var top = expected.RootElement.GetProperty("top").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        using var original = new InferenceSession(bytes);
        using var input = OrtValue.CreateTensorValueFromMemory(top, [6, 4, 8]);
        using var runOptions = new RunOptions();
        using var outputs = original.Run(runOptions, ["top"], [input], ["bottom"]);
        var reference = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        var (status, body) = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(top.AsSpan(32, 32).ToArray())}}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var values = body.GetProperty("values").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        Assert.Equal(32, values.Length);
        Assert.All(reference.AsSpan(32, 32).ToArray().Zip(values), p => Assert.Equal(p.First, p.Second, 4));

        var targets = expected.RootElement.GetProperty("targets").EnumerateArray().Select(v => v.GetSingle()).ToArray().AsSpan(32, 32).ToArray();
        var id = body.GetProperty("predictionId").GetString();
        var half = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{id}}","target":[{{Numbers(targets[..8])}}]}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, half.Status);
        Assert.Contains("expected 32 target values, got 8", half.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{id}}","target":[{{Numbers(targets)}}]}""")).Status);
        var kept = serving.Device.Store.LoadTargets(inputDim: 32, targetWidth: 32);
        Assert.Equal(targets, kept.Targets);
        Assert.Equal(top.AsSpan(32, 32).ToArray(), kept.Features);
    }
}
