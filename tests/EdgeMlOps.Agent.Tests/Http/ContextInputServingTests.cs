using System.Globalization;
using System.Net;
using EdgeMlOps.Shared.Onnx;
using Microsoft.ML.OnnxRuntime;

using static EdgeMlOps.Agent.Tests.Http.LocalApiClient;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>
/// A model with two inputs exported by PyTorch (nine measurements, and a sex id into an embedding) on a real agent's
/// local API: it says what a sample carries, answers as ONNX Runtime does on the original file fed both inputs —
/// whether a request sends the flat row or its inputs by name —, keeps ground truth sent either way as the same row,
/// and refuses what does not fit, naming the input.
/// </summary>
public sealed class ContextInputServingTests
{
    private static readonly byte[] TwoInputs = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_diabetes_two_inputs.onnx"));

    [Fact]
    public async Task TheLocalApi_TakesTheRowOrItsInputsByName_AndAnswersAsTheOriginalFile()
    {
        var model = UploadedClassifier.Open(TwoInputs, new UploadedClassifierOptions("all") { Regression = true, Input = "measurements" });
        await using var serving = await ServingAgent.StartAsync(model, TwoInputs);
        var http = serving.Http;
        var declared = (await http.SendJsonAsync(HttpMethod.Get, "/v1/model")).Body.GetProperty("interface");
        Assert.Equal("measurements", declared.GetProperty("input").GetString());
        var context = Assert.Single(declared.GetProperty("contextInputs").EnumerateArray());
        Assert.Equal(("sex", "int64", 1), (context.GetProperty("name").GetString(), context.GetProperty("type").GetString(), context.GetProperty("sampleShape")[0].GetInt32()));

        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "diabetes_two_inputs_expected.json")));
        var rows = expected.RootElement.GetProperty("rows").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        using var original = new InferenceSession(TwoInputs);
        using var measurements = OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, 6).SelectMany(r => rows.AsSpan(r * 10, 9).ToArray()).ToArray(), [6, 9]);
        using var sex = OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, 6).Select(r => (long)rows[(r * 10) + 9]).ToArray(), [6, 1]);
        using var runOptions = new RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
        using var outputs = original.Run(runOptions, ["measurements", "sex"], [measurements, sex], ["progression"]);
        var reference = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        for (var row = 0; row < 6; row++)
        {
            var flat = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(rows.AsSpan(row * 10, 10).ToArray())}}]}""");
            var named = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$$"""{"inputs":{"sex":[{{{rows[(row * 10) + 9]}}}],"measurements":[{{{Numbers(rows.AsSpan(row * 10, 9).ToArray())}}}]}}""");
            Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (flat.Status, named.Status));
            Assert.Equal(reference[row], flat.Body.GetProperty("values")[0].GetSingle(), 5);
            Assert.Equal(reference[row], named.Body.GetProperty("values")[0].GetSingle(), 5);
        }

        // Ground truth by name is kept as the same row a flat body makes: the measurements, then the id.
        var feedback = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$$"""{"inputs":{"measurements":[{{{Numbers(rows.AsSpan(10, 9).ToArray())}}}],"sex":[0]},"target":[0.75]}""");
        Assert.Equal(HttpStatusCode.OK, feedback.Status);
        var kept = serving.Device.Store.LoadTargets(10, 1);
        Assert.Equal(rows.AsSpan(10, 10).ToArray(), kept.Features);
        Assert.Equal([0.75f], kept.Targets!);

        // What does not fit is refused, naming the input; nothing more is stored.
        async Task<string> Refused(string body, HttpStatusCode status)
        {
            var (got, answer) = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", body);
            Assert.Equal(status, got);
            return answer.GetProperty("error").GetString()!;
        }

        var nine = Numbers(rows.AsSpan(0, 9).ToArray());
        Assert.Contains("input 'sex' is missing (inputs: measurements, sex)", await Refused($$$"""{"inputs":{"measurements":[{{{nine}}}]}}""", HttpStatusCode.BadRequest), StringComparison.Ordinal);
        Assert.Contains("the model has no input 'age'", await Refused($$$"""{"inputs":{"measurements":[{{{nine}}}],"age":[3]}}""", HttpStatusCode.BadRequest), StringComparison.Ordinal);
        Assert.Contains("input 'sex' is given twice", await Refused($$$"""{"inputs":{"sex":[1],"measurements":[{{{nine}}}],"sex":[0]}}""", HttpStatusCode.BadRequest), StringComparison.Ordinal);
        Assert.Contains("input 'measurements' takes 9 values, got 8", await Refused($$$"""{"inputs":{"measurements":[{{{Numbers(rows.AsSpan(0, 8).ToArray())}}}],"sex":[1]}}""", HttpStatusCode.BadRequest), StringComparison.Ordinal);
        Assert.Contains("not both", await Refused($$$"""{"features":[{{{Numbers(rows.AsSpan(0, 10).ToArray())}}}],"inputs":{"measurements":[{{{nine}}}],"sex":[1]}}""", HttpStatusCode.BadRequest), StringComparison.Ordinal);
        Assert.Contains("inputs.sex[0] is not a finite number", await Refused($$$"""{"inputs":{"measurements":[{{{nine}}}],"sex":["x"]}}""", HttpStatusCode.BadRequest), StringComparison.Ordinal);
        Assert.Contains("features[9] is 0.5, not an id (a whole number in [0, 16777216)) for its context input 'sex'",
            await Refused($$$"""{"inputs":{"measurements":[{{{nine}}}],"sex":[0.5]}}""", HttpStatusCode.UnprocessableEntity), StringComparison.Ordinal);
        Assert.Contains("expected 10 features, got 9", await Refused($$"""{"features":[{{nine}}]}""", HttpStatusCode.UnprocessableEntity), StringComparison.Ordinal);
        Assert.Equal(1, serving.Device.Store.SampleCount);
    }

    /// <summary>
    /// A string context input (the sex column as "1" or "2", one-hot encoded inside the model): the local API lists its
    /// categories, takes strings by name and answers as the original file fed those strings — an unknown one included —,
    /// keeps ground truth as a row holding the string's index, and refuses a number where a string belongs.
    /// </summary>
    [Fact]
    public async Task AStringInput_IsSentAsStrings_AnsweredAsTheOriginalFile_AndKeptAsItsCategoryIndex()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_diabetes_string_sex.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Regression = true, Input = "measurements" });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        var http = serving.Http;
        var context = Assert.Single((await http.SendJsonAsync(HttpMethod.Get, "/v1/model")).Body.GetProperty("interface").GetProperty("contextInputs").EnumerateArray());
        Assert.Equal(("sex", "string", "1,2"), (context.GetProperty("name").GetString(), context.GetProperty("type").GetString(),
            string.Join(',', context.GetProperty("categories").EnumerateArray().Select(c => c.GetString()))));

        float[] measurements = [0.04f, 0.06f, -0.02f, -0.04f, -0.03f, -0.04f, 0.0f, 0.02f, -0.02f];
        using var original = new InferenceSession(bytes);
        foreach (var sex in new[] { "1", "2", "unknown" })
        {
            using var m = OrtValue.CreateTensorValueFromMemory(measurements, [1, 9]);
            using var s = OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, [1, 1]);
            s.StringTensorSetElementAt(sex, 0);
            using var runOptions = new RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
            using var outputs = original.Run(runOptions, ["measurements", "sex"], [m, s], ["progression"]);
            var answer = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$$"""{"inputs":{"measurements":[{{{Numbers(measurements)}}}],"sex":["{{{sex}}}"]}}""");
            Assert.Equal(HttpStatusCode.OK, answer.Status);
            Assert.Equal(outputs[0].GetTensorDataAsSpan<float>()[0], answer.Body.GetProperty("values")[0].GetSingle(), 5);
        }

        var feedback = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$$"""{"inputs":{"measurements":[{{{Numbers(measurements)}}}],"sex":["2"]},"target":[1.5]}""");
        Assert.Equal(HttpStatusCode.OK, feedback.Status);
        Assert.Equal([.. measurements, 1f], serving.Device.Store.LoadTargets(10, 1).Features); // "2" is category 1

        var number = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$$"""{"inputs":{"measurements":[{{{Numbers(measurements)}}}],"sex":[1]}}""");
        Assert.Equal(HttpStatusCode.BadRequest, number.Status);
        Assert.Contains("inputs.sex[0] is not a string (input 'sex' takes one of its 2 categories", number.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        var many = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$$"""{"inputs":{"measurements":[{{{Numbers(measurements)}}}],"sex":["1","2"]}}""");
        Assert.Equal(HttpStatusCode.BadRequest, many.Status);
        Assert.Contains("input 'sex' takes 1 values, got more", many.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        var none = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$$"""{"inputs":{"measurements":[{{{Numbers(measurements)}}}],"sex":[]}}""");
        Assert.Equal(HttpStatusCode.BadRequest, none.Status);
        Assert.Contains("input 'sex' takes 1 values, got 0", none.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        var past = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(measurements)}},3]}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, past.Status);
        Assert.Contains("features[9] is 3, not a category index", past.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, serving.Device.Store.SampleCount);
    }

    /// <summary>A bool context input (a mask of valid sensor readings): sent as 0 and 1, fed as bool, anything else refused naming it.</summary>
    [Fact]
    public async Task ABoolMask_IsSentAsFlags_AndAnsweredAsTheOriginalFileFedBools()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_masked_readings.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Input = "readings" });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        var http = serving.Http;
        var context = Assert.Single((await http.SendJsonAsync(HttpMethod.Get, "/v1/model")).Body.GetProperty("interface").GetProperty("contextInputs").EnumerateArray());
        Assert.Equal(("valid", "bool", 8), (context.GetProperty("name").GetString(), context.GetProperty("type").GetString(), context.GetProperty("sampleShape")[0].GetInt32()));

        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "masked_readings_expected.json")));
        var readings = expected.RootElement.GetProperty("readings").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        var valid = expected.RootElement.GetProperty("valid").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        using var original = new InferenceSession(bytes);
        using var readingsValue = OrtValue.CreateTensorValueFromMemory(readings, [6, 8]);
        using var validValue = OrtValue.CreateTensorValueFromMemory(valid.Select(v => v != 0).ToArray(), [6, 8]);
        using var runOptions = new RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
        using var outputs = original.Run(runOptions, ["readings", "valid"], [readingsValue, validValue], ["logits"]);
        var logits = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        for (var row = 0; row < 6; row++)
        {
            var answer = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict",
                $$$"""{"inputs":{"readings":[{{{Numbers(readings.AsSpan(row * 8, 8).ToArray())}}}],"valid":[{{{Numbers(valid.AsSpan(row * 8, 8).ToArray())}}}]}}""");
            Assert.Equal(HttpStatusCode.OK, answer.Status);
            PyTorchSoftmax.AssertAnswered(logits.AsSpan(row * 3, 3), answer.Body);
        }

        var refused = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$$"""{"inputs":{"readings":[{{{Numbers(readings.AsSpan(0, 8).ToArray())}}}],"valid":[1,1,0.5,1,1,1,1,1]}}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Status);
        Assert.Contains("features[10] is 0.5, not a flag (0 or 1) for its context input 'valid'", refused.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }
}
