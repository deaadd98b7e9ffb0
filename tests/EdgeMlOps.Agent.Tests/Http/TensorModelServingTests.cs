using System.Globalization;
using System.Net;
using System.Text.Json;
using EdgeMlOps.Agent.Http;
using EdgeMlOps.Shared.Onnx;

using static EdgeMlOps.Agent.Tests.Http.LocalApiClient;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>
/// A real agent serving models that are not classifiers through <c>POST /v1/infer</c>: a PyTorch GRU whose state the
/// device carries per session (chunks answer as PyTorch over the whole sequence), and a regressor over float, string
/// and int64 inputs (answers as numpy computed). Classifier routes answer 409; bad bodies a 4xx saying why.
/// </summary>
public sealed class TensorModelServingTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("tensor_models_expected.json"))).RootElement;

    private static float[] Floats(string name) => [.. Expected.GetProperty(name).EnumerateArray().Select(e => e.GetSingle())];

    private static string Chunk(float[] frames, int start, int count, string? session) =>
        "{\"inputs\":{\"frames\":{\"dims\":[1," + count + ",8],\"data\":[" + Numbers(frames[(start * 8)..((start + count) * 8)]) + "]}}" + (session is null ? "" : $",\"session\":\"{session}\"") + "}";

    [Fact]
    public async Task AStatefulGru_KeepsEachSessionsState_AndAnswersAsPyTorchOverTheWholeSequence()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_gru_keyword.onnx"));
        await using var serving = await ServingAgent.StartAsync(UploadedClassifier.OpenTensors(bytes, [("h_in", "h_out")]), bytes);
        var http = serving.Http;
        var frames = Floats("frames");

        JsonElement last = default;
        foreach (var (start, count, first) in new[] { (0, 4, true), (4, 5, false), (9, 3, false) })
        {
            var (status, body) = await http.SendJsonAsync(HttpMethod.Post, "/v1/infer", Chunk(frames, start, count, "mic-1"));
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(first, body.GetProperty("stateReset").GetBoolean());
            Assert.Equal(1UL, body.GetProperty("modelVersion").GetUInt64());
            last = body.GetProperty("outputs");
        }

        Assert.Equal("float", last.GetProperty("score").GetProperty("type").GetString());
        Assert.Equal([1, 1], last.GetProperty("score").GetProperty("dims").EnumerateArray().Select(d => d.GetInt32()));
        Assert.Equal(Floats("score")[0], last.GetProperty("score").GetProperty("data")[0].GetSingle(), 5);
        var hidden = last.GetProperty("h_out").GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        var expected = Floats("h_out");
        Assert.All(Enumerable.Range(0, 16), i => Assert.Equal(expected[i], hidden[i], 5));

        // Another session starts from zeros: its first chunk answers as the first session's first did, not as its last.
        var other = await http.SendJsonAsync(HttpMethod.Post, "/v1/infer", Chunk(frames, 9, 3, "mic-2"));
        Assert.True(other.Body.GetProperty("stateReset").GetBoolean());
        var alone = await http.SendJsonAsync(HttpMethod.Post, "/v1/infer", Chunk(frames, 9, 3, null));
        Assert.Equal(alone.Body.GetProperty("outputs").GetProperty("score").GetProperty("data")[0].GetSingle(), other.Body.GetProperty("outputs").GetProperty("score").GetProperty("data")[0].GetSingle());
        Assert.NotEqual(Floats("score")[0], alone.Body.GetProperty("outputs").GetProperty("score").GetProperty("data")[0].GetSingle(), 4);
        Assert.Equal((2, 0L), serving.Device.Agent.RecurrentSessions);

        // The state is the device's while a session holds it.
        var state = await http.SendJsonAsync(HttpMethod.Post, "/v1/infer", $$$"""{"inputs":{"frames":{"dims":[1,1,8],"data":[0,0,0,0,0,0,0,0]},"h_in":{"dims":[1,1,16],"data":[{{{Numbers(new float[16])}}}]}},"session":"mic-1"}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, state.Status);
        Assert.Contains("input 'h_in' is the session's state", state.Body.GetProperty("error").GetString(), StringComparison.Ordinal);

        // Erasing local data forgets the sessions' state.
        Assert.Equal(HttpStatusCode.OK, (await http.SendJsonAsync(HttpMethod.Delete, "/v1/data")).Status);
        Assert.True((await http.SendJsonAsync(HttpMethod.Post, "/v1/infer", Chunk(frames, 0, 4, "mic-1"))).Body.GetProperty("stateReset").GetBoolean());

        // What it serves, and the classifier routes refused.
        var model = await http.SendJsonAsync(HttpMethod.Get, "/v1/model");
        var inputs = model.Body.GetProperty("interface").GetProperty("tensors").GetProperty("inputs");
        Assert.Equal(["frames", "h_in"], inputs.EnumerateArray().Select(i => i.GetProperty("name").GetString()));
        Assert.Equal([1, -1, 8], inputs[0].GetProperty("dims").EnumerateArray().Select(d => d.GetInt32()));
        Assert.True(inputs[1].GetProperty("state").GetBoolean());
        foreach (var route in new[] { "/v1/predict", "/v1/feedback", "/v1/explain" })
        {
            var refused = await http.SendJsonAsync(HttpMethod.Post, route, """{"features":[1,2,3],"label":1}""");
            Assert.Equal(HttpStatusCode.Conflict, refused.Status);
            Assert.Contains("POST /v1/infer", refused.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal(0, serving.Device.Store.SampleCount);
    }

    [Fact]
    public async Task ARegressorOverFloatStringAndIntegerInputs_AnswersAsNumpyComputed_AndBadBodiesAreRefusedSayingWhy()
    {
        var bytes = File.ReadAllBytes(Fixture("mixed_inputs_regressor.onnx"));
        await using var serving = await ServingAgent.StartAsync(UploadedClassifier.OpenTensors(bytes, []), bytes);
        var http = serving.Http;
        var sites = string.Join(',', Expected.GetProperty("site").EnumerateArray().Select(s => $"\"{s.GetString()}\""));
        var counts = string.Join(',', Expected.GetProperty("count").EnumerateArray().Select(c => c.GetInt64()));
        var request = $$$$"""{"inputs":{"reading":{"dims":[3,3],"data":[{{{{Numbers(Floats("reading"))}}}}]},"site":{"dims":[3,1],"data":[{{{{sites}}}}]},"count":{"dims":[3,1],"data":[{{{{counts}}}}]}}}""";

        var (status, body) = await http.SendJsonAsync(HttpMethod.Post, "/v1/infer", request);
        Assert.Equal(HttpStatusCode.OK, status);
        var outputs = body.GetProperty("outputs");
        Assert.Equal(Floats("value"), outputs.GetProperty("value").GetProperty("data").EnumerateArray().Select(v => v.GetSingle()));
        Assert.Equal("int64", outputs.GetProperty("site_code").GetProperty("type").GetString());
        Assert.Equal(Expected.GetProperty("site_code").EnumerateArray().Select(c => c.GetInt64()), outputs.GetProperty("site_code").GetProperty("data").EnumerateArray().Select(c => c.GetInt64()));
        Assert.False(body.TryGetProperty("session", out _));

        foreach (var (bad, code, message) in new[]
        {
            (request.Replace("\"south\"", "7", StringComparison.Ordinal), HttpStatusCode.BadRequest, "input 'site': 'data' must hold strings"),
            (request.Replace("[4,0,7]", "[4,0.5,7]", StringComparison.Ordinal), HttpStatusCode.BadRequest, "input 'count': 'data' must hold int64 integers"),
            (request.Replace("\"reading\":", "\"temperature\":", StringComparison.Ordinal), HttpStatusCode.BadRequest, "the model has no input 'temperature'"),
            (request.Replace("\"dims\":[3,3]", "\"dims\":[1,9]", StringComparison.Ordinal), HttpStatusCode.UnprocessableEntity, "input 'reading' has shape [1, 9]; declared [-1, 3]"),
            (request.Replace("\"dims\":[3,3]", "\"dims\":[3,2]", StringComparison.Ordinal), HttpStatusCode.UnprocessableEntity, "input 'reading' has shape [3, 2]"),
            (request.Replace("{\"inputs\"", "{\"features\":[1],\"inputs\"", StringComparison.Ordinal), HttpStatusCode.BadRequest, "unknown field 'features'"),
            ("""{"inputs":{"reading":{"dims":[1,3],"data":[1,2,3]}}}""", HttpStatusCode.UnprocessableEntity, "input 'site' is missing"),
            ("""{"inputs":{"reading":{"dims":[1,3],"data":[1,2,1e39]},"site":{"dims":[1,1],"data":["x"]},"count":{"dims":[1,1],"data":[1]}}}""", HttpStatusCode.UnprocessableEntity, "value 2 is not a finite number"),
            ("""{"inputs":{"reading":{"dims":[1,3],"data":[1,2,3]""", HttpStatusCode.BadRequest, "malformed JSON"),
        })
        {
            var refused = await http.SendJsonAsync(HttpMethod.Post, "/v1/infer", bad);
            Assert.Equal(code, refused.Status);
            Assert.Contains(message, refused.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        }

        // Declared shapes each, but batches that disagree: the model itself fails; said, and counted as an inference error.
        var errorsBefore = (await http.SendJsonAsync(HttpMethod.Get, "/v1/health")).Body.GetProperty("inferenceErrors").GetInt64();
        var mismatch = await http.SendJsonAsync(HttpMethod.Post, "/v1/infer", request.Replace("\"count\":{\"dims\":[3,1],\"data\":[4,0,7]}", "\"count\":{\"dims\":[2,1],\"data\":[4,0]}", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.InternalServerError, mismatch.Status);
        Assert.StartsWith("the model failed on these inputs: ", mismatch.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(errorsBefore + 1, (await http.SendJsonAsync(HttpMethod.Get, "/v1/health")).Body.GetProperty("inferenceErrors").GetInt64());

        // The device still answers after every refusal.
        Assert.Equal(HttpStatusCode.OK, (await http.SendJsonAsync(HttpMethod.Post, "/v1/infer", request)).Status);
    }

    [Fact]
    public async Task AClassifier_RefusesInferSayingWhereItsRequestsGo()
    {
        var bytes = File.ReadAllBytes(Fixture("sklearn_forest_wine.onnx"));
        await using var serving = await ServingAgent.StartAsync(UploadedClassifier.Open(bytes, new UploadedClassifierOptions(UploadedClassifier.ServeOnly)), bytes);
        var refused = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/infer", """{"inputs":{}}""");
        Assert.Equal(HttpStatusCode.Conflict, refused.Status);
        Assert.Contains("POST /v1/predict", refused.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnImageScorerWithADeclaredEmbedding_AnswersOnlyItsOutputs_AndShowsWhatItWatches()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_image_scorer.onnx"));
        var expected = JsonDocument.Parse(File.ReadAllText(Fixture("image_scorer_expected.json"))).RootElement;
        var name = expected.GetProperty("embedding").GetString()!;
        await using var serving = await ServingAgent.StartAsync(UploadedClassifier.OpenTensors(bytes, [], embedding: new EdgeMlOps.Shared.Models.TensorEmbedding(name, 16)), bytes);
        var images = expected.GetProperty("images").EnumerateArray().Select(v => v.GetSingle()).ToArray();

        var (status, body) = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/infer", $$$$"""{"inputs":{"image":{"dims":[2,1,28,28],"data":[{{{{Numbers(images)}}}}]}}}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["score"], body.GetProperty("outputs").EnumerateObject().Select(p => p.Name)); // the embedding is the device's
        var score = body.GetProperty("outputs").GetProperty("score").GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        var torch = expected.GetProperty("score").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        Assert.All(Enumerable.Range(0, 2), i => Assert.Equal(torch[i], score[i], 5));

        var watched = (await serving.Http.SendJsonAsync(HttpMethod.Get, "/v1/model")).Body.GetProperty("interface").GetProperty("tensors").GetProperty("embedding");
        Assert.Equal((name, 16), (watched.GetProperty("name").GetString(), watched.GetProperty("width").GetInt32()));
    }

    [Fact]
    public async Task AColourScorerWithADeclaredScaling_TakesRawPixels_AndAnswersAsPyTorchOnTheNormalizedOnes()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_color_scorer.onnx"));
        var expected = JsonDocument.Parse(File.ReadAllText(Fixture("color_scorer_expected.json"))).RootElement;
        float[] Values(string name) => [.. expected.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        var scaling = new EdgeMlOps.Shared.Models.InputScaling("image", 1, Values("mean"), Values("std"));
        await using var serving = await ServingAgent.StartAsync(UploadedClassifier.OpenTensors(bytes, [], scalings: [scaling]), bytes);

        var (status, body) = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/infer", $$$$"""{"inputs":{"image":{"dims":[2,3,16,16],"data":[{{{{Numbers(Values("images"))}}}}]}}}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var score = body.GetProperty("outputs").GetProperty("score").GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        Assert.All(Enumerable.Range(0, 2), i => Assert.Equal(Values("score")[i], score[i], 5));

        var declared = (await serving.Http.SendJsonAsync(HttpMethod.Get, "/v1/model")).Body.GetProperty("interface").GetProperty("tensors").GetProperty("scalings").EnumerateArray().Single();
        Assert.Equal(("image", 1), (declared.GetProperty("input").GetString(), declared.GetProperty("axis").GetInt32()));
        Assert.Equal(Values("std"), declared.GetProperty("std").EnumerateArray().Select(v => v.GetSingle()));
    }

    [Fact]
    public async Task AKeywordCnnOverA32FrameWindow_TakesStreamedChunks_AndAnswersAsPyTorchOnceTheWindowIsTheSample()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_kws_1d.onnx"));
        var expected = JsonDocument.Parse(File.ReadAllText(Fixture("pytorch_expected.json"))).RootElement.GetProperty("pytorch_kws_1d");
        var features = expected.GetProperty("features").EnumerateArray().Select(v => v.GetSingle()).ToArray(); // [4, 40, 32]
        var torch = expected.GetProperty("probabilities").EnumerateArray().Select(v => v.GetSingle()).ToArray(); // [4, 5]
        await using var serving = await ServingAgent.StartAsync(UploadedClassifier.OpenTensors(bytes, [], windows: [new EdgeMlOps.Shared.Models.InputWindow("features", 2)]), bytes);

        // Frames [from, from + count) of sample 0, as a [1, 40, count] chunk (bin-major, as the model takes them).
        string Chunk(int from, int count) => $$$$"""{"inputs":{"features":{"dims":[1,40,{{{{count}}}}],"data":[{{{{Numbers([.. Enumerable.Range(0, 40).SelectMany(bin => features.AsSpan(bin * 32 + from, count).ToArray())])}}}}]}},"session":"mic-1"}""";
        JsonElement answer = default;
        foreach (var (from, count, filled) in new[] { (0, 12, 12), (12, 12, 24), (24, 8, 32) })
        {
            var (status, body) = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/infer", Chunk(from, count));
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(filled, body.GetProperty("windowFilled").GetInt32());
            answer = body;
        }

        // The window now holds sample 0's 32 frames exactly: PyTorch's probabilities for it.
        var probabilities = answer.GetProperty("outputs").GetProperty("probabilities").GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        Assert.All(Enumerable.Range(0, 5), c => Assert.Equal(torch[c], probabilities[c], 5));

        // A chunk longer than the window, or a whole window without a session of the wrong length, is refused saying why.
        var tooLong = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/infer", $$$$"""{"inputs":{"features":{"dims":[1,40,33],"data":[{{{{Numbers(new float[40 * 33])}}}}]}},"session":"mic-1"}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, tooLong.Status);
        Assert.Contains("a chunk takes 1 to 32 along axis 2", tooLong.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        var alone = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/infer", $$$$"""{"inputs":{"features":{"dims":[1,40,8],"data":[{{{{Numbers(new float[40 * 8])}}}}]}}}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, alone.Status); // without a session a caller sends the whole window
        var windows = (await serving.Http.SendJsonAsync(HttpMethod.Get, "/v1/model")).Body.GetProperty("interface").GetProperty("tensors").GetProperty("windows");
        Assert.Equal(("features", 2), (windows[0].GetProperty("input").GetString(), windows[0].GetProperty("axis").GetInt32()));
    }

    [Fact]
    public async Task APretrainedResNet18_TakesAnImageAsACompactBinaryBody_TooBigAsJson_AndAnswersAsOnnxRuntimeOnTheFile()
    {
        var bytes = File.ReadAllBytes(Fixture("ResNet18.onnx"));
        var model = UploadedClassifier.OpenTensors(bytes, []);
        var input = model.Spec.Graph!.Tensors!.Inputs.Single();
        var output = model.Spec.Graph.Tensors.Outputs.Single();
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        var random = new Random(8);
        var image = Enumerable.Range(0, 3 * 224 * 224).Select(_ => random.NextSingle()).ToArray();

        var body = Binary(null, (input.Name, [1, 3, 224, 224], Raw(image)));
        Assert.InRange(body.Length, 602_112, 602_200); // the pixels, and a few bytes of framing
        using var response = await serving.Http.PostAsync("/v1/infer/bin", new ByteArrayContent(body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var embedding = answer.RootElement.GetProperty("outputs").GetProperty(output.Name);
        Assert.Equal([1, 512, 1, 1], embedding.GetProperty("dims").EnumerateArray().Select(d => d.GetInt32()));

        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(bytes);
        using var feed = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(image, [1, 3, 224, 224]);
        using var runOptions = new Microsoft.ML.OnnxRuntime.RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
        using var original = session.Run(runOptions, [input.Name], [feed], [output.Name]);
        Assert.Equal(original[0].GetTensorDataAsSpan<float>().ToArray(), embedding.GetProperty("data").EnumerateArray().Select(v => v.GetSingle()));

        // The same image as JSON numbers is over the local API's 1 MiB body limit: the binary body is what makes it servable.
        var json = $$$$"""{"inputs":{"{{{{input.Name}}}}":{"dims":[1,3,224,224],"data":[{{{{Numbers(image)}}}}]}}}""";
        Assert.True(json.Length > 1024 * 1024, $"{json.Length} characters");
        using var tooBig = await serving.Http.PostAsync("/v1/infer", new StringContent(json));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooBig.StatusCode);
    }

    [Fact]
    public async Task TheBinaryBody_CarriesASession_AndEveryMalformedFrameIsRefusedSayingWhy()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_gru_keyword.onnx"));
        await using var serving = await ServingAgent.StartAsync(UploadedClassifier.OpenTensors(bytes, [("h_in", "h_out")]), bytes);
        var frames = Floats("frames");
        float score = 0;
        foreach (var (start, count) in new[] { (0, 7), (7, 5) })
        {
            using var chunk = await serving.Http.PostAsync("/v1/infer/bin", new ByteArrayContent(Binary("mic-9", ("frames", [1, count, 8], Raw(frames[(start * 8)..((start + count) * 8)])))));
            Assert.Equal(HttpStatusCode.OK, chunk.StatusCode);
            using var body = JsonDocument.Parse(await chunk.Content.ReadAsStringAsync());
            Assert.Equal("mic-9", body.RootElement.GetProperty("session").GetString());
            score = body.RootElement.GetProperty("outputs").GetProperty("score").GetProperty("data")[0].GetSingle();
        }

        Assert.Equal(Floats("score")[0], score, 5);

        var good = Binary(null, ("frames", [1, 2, 8], Raw(new float[16])));
        foreach (var (bad, message) in new[]
        {
            ("EMT2"u8.ToArray().Concat(good.Skip(4)).ToArray(), "must start with the magic"),
            (good[..^4], "needs 64 bytes of values; 60 are left"),
            (good.Concat(new byte[3]).ToArray(), "3 bytes follow the last input"),
            (Binary(null, ("frames", [1, -2, 8], [])), "its dims are cut short or negative"),
            (Binary(null, ("frames", [long.MaxValue, long.MaxValue], [])), "its dims overflow"),
            (Binary(null, ("frames", [1, 1_000_000, 8], Raw(new float[16]))), "needs 32000000 bytes of values"),
            (Binary(null, ("frames", [1, 1L << 62, 1], Raw(new float[16]))), "needs 18446744073709551616 bytes of values"), // 2^62 × 4 bytes wraps to 0 in a long
            (Binary(null, ("frames", [1, (1L << 61) + 1, 1], Raw(new float[16]))), "needs 9223372036854775812 bytes of values"), // wraps negative
            (Binary(null, ("noise", [1], Raw(new float[1]))), "the model has no input 'noise'"),
            (good[..9], "cut short"),
        })
        {
            using var refused = await serving.Http.PostAsync("/v1/infer/bin", new ByteArrayContent(bad));
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            using var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
            Assert.Contains(message, error.RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
        }

        using var shape = await serving.Http.PostAsync("/v1/infer/bin", new ByteArrayContent(Binary(null, ("frames", [2, 1, 8], Raw(new float[16])))));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, shape.StatusCode); // well framed, but not the declared shape
    }

    [Fact]
    public async Task BoolDoubleAndInt32Tensors_RoundTripAsJsonAndAsBinary()
    {
        var bytes = File.ReadAllBytes(Fixture("typed_passthrough.onnx"));
        await using var serving = await ServingAgent.StartAsync(UploadedClassifier.OpenTensors(bytes, []), bytes);
        var json = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/infer",
            """{"inputs":{"flag":{"dims":[3],"data":[true,false,true]},"x":{"dims":[3],"data":[0.1,-2.5,1e300]},"k":{"dims":[3],"data":[-1,0,2147483646]}}}""");
        Assert.Equal(HttpStatusCode.OK, json.Status);

        var x = new[] { 0.1, -2.5, 1e300 };
        var k = new[] { -1, 0, int.MaxValue - 1 };
        using var binary = await serving.Http.PostAsync("/v1/infer/bin", new ByteArrayContent(Binary(null,
            ("flag", [3], [1, 0, 1]),
            ("x", [3], System.Runtime.InteropServices.MemoryMarshal.AsBytes(x.AsSpan()).ToArray()),
            ("k", [3], System.Runtime.InteropServices.MemoryMarshal.AsBytes(k.AsSpan()).ToArray()))));
        Assert.Equal(HttpStatusCode.OK, binary.StatusCode);
        using var fromBinary = JsonDocument.Parse(await binary.Content.ReadAsStringAsync());
        foreach (var outputs in new[] { json.Body.GetProperty("outputs"), fromBinary.RootElement.GetProperty("outputs") })
        {
            Assert.Equal([false, true, false], outputs.GetProperty("not_flag").GetProperty("data").EnumerateArray().Select(v => v.GetBoolean()));
            Assert.Equal("bool", outputs.GetProperty("not_flag").GetProperty("type").GetString());
            Assert.Equal([0.2, -5.0, 2e300], outputs.GetProperty("twice").GetProperty("data").EnumerateArray().Select(v => v.GetDouble()));
            Assert.Equal("double", outputs.GetProperty("twice").GetProperty("type").GetString());
            Assert.Equal([0, 1, int.MaxValue], outputs.GetProperty("next").GetProperty("data").EnumerateArray().Select(v => v.GetInt32()));
            Assert.Equal("int32", outputs.GetProperty("next").GetProperty("type").GetString());
        }

        // An int32 beyond its range, a bool byte that is neither 0 nor 1: refused saying so.
        var overflow = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/infer",
            """{"inputs":{"flag":{"dims":[1],"data":[true]},"x":{"dims":[1],"data":[1]},"k":{"dims":[1],"data":[2147483648]}}}""");
        Assert.Equal(HttpStatusCode.BadRequest, overflow.Status);
        Assert.Contains("input 'k': 'data' must hold int32 integers", overflow.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        using var notABool = await serving.Http.PostAsync("/v1/infer/bin", new ByteArrayContent(Binary(null, ("flag", [1], [2]))));
        Assert.Equal(HttpStatusCode.BadRequest, notABool.StatusCode);
        using var error = JsonDocument.Parse(await notABool.Content.ReadAsStringAsync());
        Assert.Contains("input 'flag' value 0 is 2, not a bool (0 or 1)", error.RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
    }
}
