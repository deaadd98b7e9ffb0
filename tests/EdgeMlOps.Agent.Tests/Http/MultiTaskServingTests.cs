using System.Net;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Microsoft.ML.OnnxRuntime;

using static EdgeMlOps.Agent.Tests.Http.LocalApiClient;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>
/// A multi-task model on a real agent's local API (PyTorch's two-headed digit model, export_digit_completion.py: the
/// digit a classifier task, the scan's lower half [batch, 4, 8] a regression task): it answers both outputs by name as
/// ONNX Runtime computes them on the original file, takes their ground truth as one target in task order, refuses a
/// class the digit task does not have, and keeps what it takes for training.
/// </summary>
public sealed class MultiTaskServingTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public async Task TheLocalApi_AnswersEveryTaskByName_AndTakesTheirGroundTruthInOrder()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_completion.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Tasks = ModelTask.Parse("digit:classes,bottom:regression:0.5") });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        var http = serving.Http;
        var declared = (await http.SendJsonAsync(HttpMethod.Get, "/v1/model")).Body.GetProperty("interface");
        Assert.Equal("2 tasks trained at once (the first scored for gates): 'digit': logits of 10 classes, a class id per row; 'bottom': 32 regression values per row, [4, 8] row-major, weight 0.5",
            declared.GetProperty("outputKind").GetString());

        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture("digit_multitask_expected.json")));
        float[] Floats(string name) => [.. expected.RootElement.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        var (top, digits, bottoms) = (Floats("top"), Floats("digits"), Floats("bottoms"));
        using var original = new InferenceSession(bytes);
        using var input = OrtValue.CreateTensorValueFromMemory(top, [8, 4, 8]);
        using var runOptions = new RunOptions();
        using var outputs = original.Run(runOptions, ["top"], [input], ["digit", "bottom"]);
        var (logits, bottom) = (outputs[0].GetTensorDataAsSpan<float>().ToArray(), outputs[1].GetTensorDataAsSpan<float>().ToArray());
        const int Row = 6; // a scan of a digit above 4, which the uploaded weights never saw
        var (status, body) = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(top.AsSpan(Row * 32, 32).ToArray())}}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var tasks = body.GetProperty("tasks");
        Assert.Equal(["digit", "bottom"], tasks.EnumerateObject().Select(p => p.Name));
        Assert.Equal(logits.Skip(Row * 10).Take(10).Select((v, i) => (v, i)).Max().i, tasks.GetProperty("digit").GetProperty("label").GetInt32());
        var values = tasks.GetProperty("bottom").GetProperty("values").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        Assert.All(bottom.AsSpan(Row * 32, 32).ToArray().Zip(values), p => Assert.Equal(p.First, p.Second, 4));

        // Ground truth: the digit, then the lower half — one target in task order.
        float[] truth = [digits[Row], .. bottoms.AsSpan(Row * 32, 32)];
        var id = body.GetProperty("predictionId").GetString();
        var notADigit = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{id}}","target":[10,{{Numbers(truth[1..])}}]}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, notADigit.Status);
        Assert.Contains("target[0] is 10: task 'digit' takes a class id (0 to 9)", notADigit.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        var halfOnly = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{id}}","target":[{{Numbers(truth[1..])}}]}""");
        Assert.Contains("expected 33 target values, got 32", halfOnly.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{id}}","target":[{{Numbers(truth)}}]}""")).Status);
        var kept = serving.Device.Store.LoadTargets(inputDim: 32, targetWidth: 33);
        Assert.Equal(truth, kept.Targets);
        Assert.Equal(top.AsSpan(Row * 32, 32).ToArray(), kept.Features);

        var explain = await http.SendJsonAsync(HttpMethod.Post, "/v1/explain", $$"""{"features":[{{Numbers(top.AsSpan(0, 32).ToArray())}}]}""");
        Assert.Equal(HttpStatusCode.Conflict, explain.Status);
        Assert.Contains("this model is a multi-task model", explain.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMultiLabelTask_IsAnsweredAsEachLabelsProbability_AndTheLabelsPresent()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_two_heads.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Tasks = ModelTask.Parse("digit:classes,attributes:labels:0.5") });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture("digit_two_heads_expected.json")));
        float[] Floats(string name) => [.. expected.RootElement.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        var (pixels, probabilities) = (Floats("pixels"), Floats("probabilities"));
        var (status, body) = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(pixels.AsSpan(0, 64).ToArray())}}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var attributes = body.GetProperty("tasks").GetProperty("attributes");
        Assert.All(probabilities.Take(4).Zip(attributes.GetProperty("probabilities").EnumerateArray().Select(v => v.GetSingle())), p => Assert.Equal(p.First, p.Second, 4));
        Assert.Equal(probabilities.Take(4).Select((p, i) => (p, i)).Where(x => x.p > 0.5f).Select(x => x.i), attributes.GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()));

        var id = body.GetProperty("predictionId").GetString();
        var notALabel = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{id}}","target":[0,1,0,2,1]}""");
        Assert.Contains("target[3] is 2: task 'attributes' takes 0 or 1 per label", notALabel.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{id}}","target":[0,1,0,0,1]}""")).Status);
    }

    [Fact]
    public async Task APerPositionTask_IsAnsweredAsTheClassAtEveryPosition_AndTakesAClassIdPerPosition()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_segment_task.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Tasks = ModelTask.Parse("digit:classes,segments:positions") });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture("digit_segment_task_expected.json")));
        float[] Floats(string name) => [.. expected.RootElement.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        var (pixels, logits, truth) = (Floats("pixels"), Floats("segmentLogits"), Floats("segments"));
        const int Row = 1; // a scan of a 7: its ink is a class the uploaded weights never gave
        var (status, body) = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(pixels.AsSpan(Row * 64, 64).ToArray())}}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var segments = body.GetProperty("tasks").GetProperty("segments").GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        Assert.Equal(Enumerable.Range(0, 64).Select(j => Enumerable.Range(0, 11).MaxBy(c => logits[(Row * 704) + (c * 64) + j])), segments);

        var id = body.GetProperty("predictionId").GetString();
        float[] target = [Floats("digits")[Row], .. truth.AsSpan(Row * 64, 64)];
        var wrong = (float[])target.Clone();
        wrong[5] = 11;
        var refused = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{id}}","target":[{{Numbers(wrong)}}]}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Status);
        Assert.Contains("target[5] is 11: task 'segments' takes a class id per position (0 to 10)", refused.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{id}}","target":[{{Numbers(target)}}]}""")).Status);
        Assert.Equal(target, serving.Device.Store.LoadTargets(inputDim: 64, targetWidth: 65).Targets);
    }

    [Fact]
    public async Task ATaggersTask_IsAnsweredAsTheClassOfEveryRow_ReadWithItsClassesLast()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_tagger_task.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Tasks = ModelTask.Parse("digit:classes,tags:tags") });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture("digit_tagger_task_expected.json")));
        float[] Floats(string name) => [.. expected.RootElement.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        var (rows, logits) = (Floats("rows"), Floats("tagLogits"));
        const int Row = 1;
        var (status, body) = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(rows.AsSpan(Row * 64, 64).ToArray())}}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var tags = body.GetProperty("tasks").GetProperty("tags").GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        Assert.Equal(Enumerable.Range(0, 8).Select(j => Enumerable.Range(0, 11).MaxBy(c => logits[(Row * 88) + (j * 11) + c])), tags); // the classes 1 apart, each row's 11 apart
        var declared = (await serving.Http.SendJsonAsync(HttpMethod.Get, "/v1/model")).Body.GetProperty("interface").GetProperty("outputKind").GetString();
        Assert.Contains("'tags': logits of 11 classes at each of [8] positions", declared, StringComparison.Ordinal);
    }
}
