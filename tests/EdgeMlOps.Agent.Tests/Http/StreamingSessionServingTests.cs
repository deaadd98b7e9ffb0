using System.Globalization;
using System.Net;
using System.Text.Json;
using EdgeMlOps.Shared.Onnx;

using static EdgeMlOps.Agent.Tests.Http.LocalApiClient;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>
/// A streaming classifier exported by PyTorch (a GRU over two rows of a digit scan per call, its state an input and
/// an output) on a real agent's local API: in a session the device carries the state between calls, so a scan sent
/// in four calls is answered as PyTorch answers after each; sessions are independent; ground truth for a call keeps
/// the row the call ran on — its rows and the state it started from, what a train step then starts from.
/// </summary>
public sealed class StreamingSessionServingTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    /// <summary>
    /// One session ("scan-0") of calls, each a chunk of <paramref name="values"/> (8 per frame, cut as
    /// streaming_frames_expected.json's <c>chunks</c> say) sent by the name <paramref name="input"/>: asserts every
    /// answer is the softmax of PyTorch's logits for that call and that only the first starts a fresh state. Returns
    /// the last call's prediction id.
    /// </summary>
    private static async Task<string?> StreamAsPyTorchAsync(ServingAgent serving, float[] values, string input, JsonElement root)
    {
        var chunks = root.GetProperty("chunks").EnumerateArray().Select(c => (From: c[0].GetInt32(), To: c[1].GetInt32())).ToArray();
        string? lastId = null;
        for (var call = 0; call < chunks.Length; call++)
        {
            var chunk = values.AsSpan(chunks[call].From * 8, (chunks[call].To - chunks[call].From) * 8).ToArray();
            var answer = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"inputs":{"{{input}}":[{{Numbers(chunk)}}]},"session":"scan-0"}""");
            Assert.True(answer.Status == HttpStatusCode.OK, $"call {call}: {answer.Status} {answer.Body}");
            Assert.Equal(call == 0, answer.Body.GetProperty("stateReset").GetBoolean());
            var logits = root.GetProperty("logitsByCall")[call].EnumerateArray().Take(10).Select(v => v.GetDouble()).ToArray();
            PyTorchSoftmax.AssertAnswered(logits, answer.Body);
            lastId = answer.Body.GetProperty("predictionId").GetString();
        }

        return lastId;
    }

    [Fact]
    public async Task AScanSentInFourCallsOfASession_IsAnsweredAsPyTorchAnswers_AndItsGroundTruthKeepsTheStartingState()
    {
        var bytes = await File.ReadAllBytesAsync(Fixture("pytorch_streaming_digits.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Input = "rows", States = [("h_in", "h_out")] });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        var http = serving.Http;
        var declared = (await http.SendJsonAsync(HttpMethod.Get, "/v1/model")).Body.GetProperty("interface");
        Assert.Equal("h_in>h_out", Assert.Single(declared.GetProperty("states").EnumerateArray()).GetString());

        using var expected = JsonDocument.Parse(await File.ReadAllTextAsync(Fixture("streaming_digits_expected.json")));
        var root = expected.RootElement;
        var pixels = root.GetProperty("pixels").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        string Call(int scan, int call, string session) => $$"""{"inputs":{"rows":[{{Numbers(pixels.AsSpan((scan * 64) + (call * 16), 16).ToArray())}}]},"session":"{{session}}"}""";

        string? lastId = null;
        for (var call = 0; call < 4; call++)
        {
            var answer = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", Call(0, call, "scan-0"));
            Assert.Equal(HttpStatusCode.OK, answer.Status);
            Assert.Equal(call == 0, answer.Body.GetProperty("stateReset").GetBoolean());
            var logits = root.GetProperty("logitsByCall")[call].EnumerateArray().Take(10).Select(v => v.GetDouble()).ToArray();
            PyTorchSoftmax.AssertAnswered(logits, answer.Body);
            lastId = answer.Body.GetProperty("predictionId").GetString();

            // Another scan's session in between changes nothing in this one.
            Assert.Equal(HttpStatusCode.OK, (await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", Call(1, call, "scan-1"))).Status);
        }

        // Ground truth for the last call keeps its row: its two rows, then the state the call started from.
        var label = root.GetProperty("labels")[0].GetInt64();
        Assert.Equal(HttpStatusCode.OK, (await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{lastId}}","label":{{label}}}""")).Status);
        var kept = serving.Device.Store.LoadSamples(32);
        var row = root.GetProperty("rows").EnumerateArray().Take(32).Select(v => v.GetSingle()).ToArray();
        Assert.Equal([label], kept.Labels);
        Assert.All(row.Zip(kept.Features), p => Assert.Equal(p.First, p.Second, 1e-5));

        // What does not fit is refused.
        var tooLong = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", Call(0, 0, new string('s', 129)));
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.Status);
        Assert.Contains("'session' must be a string of 1 to 128 characters", tooLong.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        var onFeedback = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{lastId}}","label":1,"session":"scan-0"}""");
        Assert.Equal(HttpStatusCode.BadRequest, onFeedback.Status);
    }

    /// <summary>The same file declared a regressor (its ten logits the values): sessions carry its state the same way, and a target by prediction id keeps the call's row.</summary>
    [Fact]
    public async Task AStreamingRegressor_CarriesItsStateInASession_Too()
    {
        var bytes = await File.ReadAllBytesAsync(Fixture("pytorch_streaming_digits.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Input = "rows", Regression = true, States = [("h_in", "h_out")] });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        using var expected = JsonDocument.Parse(await File.ReadAllTextAsync(Fixture("streaming_digits_expected.json")));
        var root = expected.RootElement;
        var pixels = root.GetProperty("pixels").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        string? lastId = null;
        for (var call = 0; call < 4; call++)
        {
            var answer = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"inputs":{"rows":[{{Numbers(pixels.AsSpan(call * 16, 16).ToArray())}}]},"session":"trip"}""");
            Assert.Equal(HttpStatusCode.OK, answer.Status);
            Assert.Equal(call == 0, answer.Body.GetProperty("stateReset").GetBoolean());
            var logits = root.GetProperty("logitsByCall")[call].EnumerateArray().Take(10).Select(v => v.GetDouble()).ToArray();
            Assert.All(logits.Zip(answer.Body.GetProperty("values").EnumerateArray().Select(v => v.GetDouble())), p => Assert.Equal(p.First, p.Second, 1e-4));
            lastId = answer.Body.GetProperty("predictionId").GetString();
        }

        Assert.Equal(HttpStatusCode.OK, (await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{lastId}}","target":[{{string.Join(',', Enumerable.Repeat("0", 10))}}]}""")).Status);
        var row = root.GetProperty("rows").EnumerateArray().Take(32).Select(v => v.GetSingle()).ToArray();
        Assert.All(row.Zip(serving.Device.Store.LoadTargets(32, 10).Features), p => Assert.Equal(p.First, p.Second, 1e-5));
    }

    /// <summary>
    /// A streaming classifier whose calls bring chunks of any length in a range (<c>export_streaming_frames.py</c>,
    /// <c>frames=2..3</c>): a session's calls of 3, 3 and 2 frames are answered as PyTorch answers after each — the
    /// device writing the session's state after a chunk of whatever length the call sent — and ground truth for the
    /// 2-frame call keeps its row: its 16 frame values, then the state it started from.
    /// </summary>
    [Fact]
    public async Task CallsOfThreeThreeAndTwoFrames_InASession_AreAnsweredAsPyTorchAnswers()
    {
        var bytes = await File.ReadAllBytesAsync(Fixture("pytorch_streaming_frames.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all")
        {
            Input = "rows", States = [("h_in", "h_out")], AxisLengths = AxisLengths.Parse("frames=2..3"), Varying = AxisLengths.Range("frames=2..3"),
        });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        using var expected = JsonDocument.Parse(await File.ReadAllTextAsync(Fixture("streaming_frames_expected.json")));
        var root = expected.RootElement;
        var pixels = root.GetProperty("pixels").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        var lastId = await StreamAsPyTorchAsync(serving, pixels, "rows", root);

        Assert.Equal(HttpStatusCode.OK, (await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{lastId}}","label":{{root.GetProperty("labels")[0].GetInt64()}}}""")).Status);
        var kept = serving.Device.Store.LoadSamples(40, varying: model.Spec.Graph!.Varying);
        var row = root.GetProperty("call2").GetProperty("rows").EnumerateArray().Take(32).Select(v => v.GetSingle()).ToArray();
        Assert.Equal([32], kept.RowLengths!);
        Assert.All(row.Zip(kept.Features), p => Assert.Equal(p.First, p.Second, 1e-5));
    }

    /// <summary>
    /// The same streaming classifier behind PyTorch's calibration front end: a session's raw chunks of 3, 3 and 2 frames
    /// (12-bit counts, sent by the front end's input name) go through the front end, the state the agent keeps beside them; every answer is PyTorch's on the
    /// calibrated scan, and the last chunk is kept raw with the state it started from.
    /// </summary>
    [Fact]
    public async Task ASessionBehindACalibrationFrontEnd_CarriesTheStateBesideIt_AndAnswersAsPyTorch()
    {
        var bytes = await File.ReadAllBytesAsync(Fixture("pytorch_streaming_frames.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all")
        {
            Input = "rows", States = [("h_in", "h_out")], AxisLengths = AxisLengths.Parse("frames=2..3"), Varying = AxisLengths.Range("frames=2..3"),
            Preprocess = await File.ReadAllBytesAsync(Fixture("pytorch_frames_calibration.onnx")),
        });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        using var expected = JsonDocument.Parse(await File.ReadAllTextAsync(Fixture("streaming_frames_expected.json")));
        var root = expected.RootElement;
        var raw = root.GetProperty("pixels").EnumerateArray().Select((v, i) => (v.GetSingle() * (200 + (10 * (i % 8)))) + 90 + (5 * (i % 8))).ToArray();
        var lastId = await StreamAsPyTorchAsync(serving, raw, "scan", root);

        Assert.Equal(HttpStatusCode.OK, (await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"predictionId":"{{lastId}}","label":{{root.GetProperty("labels")[0].GetInt64()}}}""")).Status);
        var kept = serving.Device.Store.LoadSamples(40, varying: model.Spec.Graph!.Varying);
        var state = root.GetProperty("call2").GetProperty("rows").EnumerateArray().Skip(16).Take(16).Select(v => v.GetSingle()).ToArray();
        Assert.Equal([32], kept.RowLengths!);
        Assert.All(raw.AsSpan(48, 16).ToArray().Concat(state).Zip(kept.Features), p => Assert.Equal(p.First, p.Second, 1e-3)); // the raw chunk, then the state it started from
    }

    [Fact]
    public async Task ASession_OnAModelWithoutState_IsRefused()
    {
        var bytes = await File.ReadAllBytesAsync(Fixture("pytorch_cnn_digits04.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("last:1"));
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        var refused = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{string.Join(',', new float[784])}}],"session":"s"}""");
        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        Assert.Contains("this model carries no state between calls: leave 'session' out", refused.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }
}
