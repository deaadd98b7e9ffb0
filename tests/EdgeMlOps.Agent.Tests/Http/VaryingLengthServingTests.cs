using System.Net;
using System.Text.Json;
using EdgeMlOps.Shared.Onnx;

using static EdgeMlOps.Agent.Tests.Http.LocalApiClient;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>
/// PyTorch's frame classifier on a real agent's local API with samples of 6 to 8 frames
/// (<c>ModelInterface:AxisLengths=frames=6..8</c>): a scan of any length in the range is answered as PyTorch computes
/// it — as JSON or raw float32 —, its ground truth kept at its own length and loaded for training with the others; a
/// length outside the range is refused saying which lengths fit, and nothing is stored.
/// </summary>
public sealed class VaryingLengthServingTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public async Task ScansOfSixToEightFrames_AreAnsweredAsPyTorchDoes_AndKeptAtTheirOwnLength()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_frames.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { AxisLengths = AxisLengths.Parse("frames=6..8"), Varying = AxisLengths.Range("frames=6..8") });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        var http = serving.Http;
        using var expected = JsonDocument.Parse(File.ReadAllText(Fixture("digit_frames_expected.json")));
        float[] Floats(string name) => [.. expected.RootElement.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        var digits = expected.RootElement.GetProperty("digits").EnumerateArray().Select(d => d.GetInt64()).ToArray();

        foreach (var (rows, logits, width) in new[] { ("rows", "logits", 64), ("short", "shortLogits", 48) })
        {
            var (scans, scores) = (Floats(rows), Floats(logits));
            for (var row = 0; row < 6; row++)
            {
                var scan = scans.AsSpan(row * width, width).ToArray();
                var json = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(scan)}}]}""");
                Assert.Equal(HttpStatusCode.OK, json.Status);
                var served = PyTorchSoftmax.AssertAnswered(scores.AsSpan(row * 10, 10), json.Body);

                using var raw = new ByteArrayContent(System.Runtime.InteropServices.MemoryMarshal.AsBytes(scan.AsSpan()).ToArray());
                using var binary = await http.PostAsync("/v1/predict/f32", raw);
                Assert.Equal(HttpStatusCode.OK, binary.StatusCode);
                using var binaryBody = JsonDocument.Parse(await binary.Content.ReadAsStringAsync());
                Assert.Equal(served, binaryBody.RootElement.GetProperty("probabilities").EnumerateArray().Select(p => p.GetSingle()));
            }

            var feedback = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{Numbers(scans.AsSpan(0, width).ToArray())}}],"label":{{digits[0]}}}""");
            Assert.Equal(HttpStatusCode.OK, feedback.Status);
        }

        // Monitoring sketches each sample's mean over its frames: 8 values, whatever the length (24 scans sent above).
        serving.Device.Agent.FlushProfile();
        var profile = serving.Device.Outbox.Peek(100).Where(m => m.Topic.EndsWith("/profile", StringComparison.Ordinal))
            .Select(m => Shared.Protocol.V1.ProfileReport.Parser.ParseFrom(m.Payload)).Single();
        Assert.Equal((24UL, 8), (profile.Predictions, profile.Features.Count));
        var frameMeans = new[] { ("rows", 8), ("short", 6) }.SelectMany(p => Enumerable.Range(0, 6).Select(r => Floats(p.Item1).AsSpan(r * p.Item2 * 8, p.Item2 * 8).ToArray())
            .Select(scan => Enumerable.Range(0, 8).Select(k => Enumerable.Range(0, scan.Length / 8).Average(f => (double)scan[(f * 8) + k])).ToArray())).ToList();
        foreach (var k in new[] { 0, 3, 7 })
        {
            Assert.Equal(24UL, profile.Features[k].Count);
            Assert.Equal(frameMeans.Average(m => m[k]), profile.Features[k].Mean, 3); // each scan sent twice (JSON and float32)
        }

        // Outside the range: refused, saying which lengths fit; nothing stored.
        var seven = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(new float[56])}}]}""");
        Assert.Equal(HttpStatusCode.OK, seven.Status);
        var five = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(new float[40])}}]}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, five.Status);
        Assert.Contains("expected 6 to 8 'frames' (48 to 64 values in steps of 8) features, got 40", five.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        using var ragged = await http.PostAsync("/v1/predict/f32", new ByteArrayContent(new byte[50 * 4]));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, ragged.StatusCode);
        Assert.Contains("expected 6 to 8 'frames' (48 to 64 values in steps of 8) as little-endian float32, got 200 bytes", JsonDocument.Parse(await ragged.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
        var wrongFeedback = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{Numbers(new float[72])}}],"label":1}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, wrongFeedback.Status);

        // Both kept at their own length, and loaded for training together.
        Assert.Equal(2, serving.Device.Store.SampleCount);
        var kept = serving.Device.Store.LoadSamples(64, varying: model.Spec.Graph!.Varying);
        Assert.Equal([48, 64], kept.RowLengths!.Order());
        Assert.Equal(112, kept.Features.Length);
        Assert.Single(serving.Device.Store.LoadSamples(64).Labels); // one width alone: the whole scan only
        Assert.Equal(8, kept.Summaries(model.Spec.Graph.Varying!).Length / 2); // what monitoring sketches: a frame's mean each
    }

    /// <summary>
    /// The frame classifier with a context input beside the frames (<c>export_digit_frames_context.py</c>): a request's
    /// <c>features</c> (or float32 body) are a scan's frames at its own length, then its 8 context values, or the two
    /// inputs are sent by name, the frames at any length in the range. Answered as
    /// PyTorch does at 6 and 8 frames, kept whole at both lengths, monitored as a frame's mean and the context (16 values), and a row
    /// with no room for its context refused.
    /// </summary>
    [Fact]
    public async Task ScansOfSixToEightFrames_WithAContextInput_AreAnsweredAsPyTorchDoes_AndKeptWhole()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_frames_context.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Input = "rows", AxisLengths = AxisLengths.Parse("frames=6..8"), Varying = AxisLengths.Range("frames=6..8") });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        var http = serving.Http;
        using var expected = JsonDocument.Parse(File.ReadAllText(Fixture("digit_frames_context_expected.json")));
        var contexts = new List<float[]>();
        foreach (var (batch, frames) in new[] { ("whole", 8), ("short", 6) })
        {
            var root = expected.RootElement.GetProperty(batch);
            float[] Floats(string name) => [.. root.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
            var (scans, context, scores) = (Floats("rows"), Floats("context"), Floats("logits"));
            for (var row = 0; row < 6; row++)
            {
                float[] sample = [.. scans.AsSpan(row * frames * 8, frames * 8), .. context.AsSpan(row * 8, 8)];
                contexts.Add(context.AsSpan(row * 8, 8).ToArray());
                var json = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(sample)}}]}""");
                Assert.Equal(HttpStatusCode.OK, json.Status);
                var served = PyTorchSoftmax.AssertAnswered(scores.AsSpan(row * 10, 10), json.Body);
                var named = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict",
                    $$"""{"inputs":{"last_row":[{{Numbers(context.AsSpan(row * 8, 8).ToArray())}}],"rows":[{{Numbers(scans.AsSpan(row * frames * 8, frames * 8).ToArray())}}]} }"""); // by name, at its own length
                Assert.Equal(served, named.Body.GetProperty("probabilities").EnumerateArray().Select(p => p.GetSingle()));
                using var raw = new ByteArrayContent(System.Runtime.InteropServices.MemoryMarshal.AsBytes(sample.AsSpan()).ToArray());
                using var binary = await http.PostAsync("/v1/predict/f32", raw); // as float32 too: 36 predictions, enough for the sketches' privacy floor
                Assert.Equal(HttpStatusCode.OK, binary.StatusCode);
                if (row == 0)
                {
                    var feedback = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{Numbers(sample)}}],"label":{{root.GetProperty("digits")[0].GetInt64()}}}""");
                    Assert.Equal(HttpStatusCode.OK, feedback.Status);
                }
            }
        }

        // Monitoring: each scan's frame means, then its context values as they are.
        serving.Device.Agent.FlushProfile();
        var profile = serving.Device.Outbox.Peek(100).Where(m => m.Topic.EndsWith("/profile", StringComparison.Ordinal))
            .Select(m => Shared.Protocol.V1.ProfileReport.Parser.ParseFrom(m.Payload)).Single();
        Assert.Equal((36UL, 16), (profile.Predictions, profile.Features.Count));
        foreach (var k in new[] { 0, 5, 7 }) Assert.Equal(contexts.Average(c => c[k]), profile.Features[8 + k].Mean, 3);

        // A row with no room for its context (6 frames alone) is refused, naming the layout.
        var bare = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(new float[48])}}]}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, bare.Status);
        Assert.Contains("expected 6 to 8 'frames' (56 to 72 values in steps of 8, the last 8 the context inputs') features, got 48", bare.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        var fiveFrames = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"inputs":{"rows":[{{Numbers(new float[40])}}],"last_row":[{{Numbers(new float[8])}}]} }""");
        Assert.Equal(HttpStatusCode.BadRequest, fiveFrames.Status);
        Assert.Contains("input 'rows' takes 48 to 64 values in steps of 8 (6 to 8 'frames'), got 40", fiveFrames.Body.GetProperty("error").GetString(), StringComparison.Ordinal);

        // Kept whole at both lengths, loaded together for training, each sketched as 16 values.
        var kept = serving.Device.Store.LoadSamples(72, varying: model.Spec.Graph!.Varying);
        Assert.Equal([56, 72], kept.RowLengths!.Order());
        Assert.Equal(32, kept.Summaries(model.Spec.Graph.Varying!).Length);
    }

    /// <summary>
    /// A two-task model over 6 to 8 frames (<c>export_digit_frames_tasks.py</c>: the digit and the scan's ink): a clip
    /// of either length is answered with both tasks as PyTorch computes them, its ground truth (the digit and the ink)
    /// kept with the clip at its own length and loaded with the others for training.
    /// </summary>
    [Fact]
    public async Task ATwoTaskModel_AnswersClipsOfSixToEightFrames_AndKeepsTheirTargets()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_frames_tasks.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all")
        {
            Tasks = Shared.Models.ModelTask.Parse("digit:classes,ink:regression"), AxisLengths = AxisLengths.Parse("frames=6..8"), Varying = AxisLengths.Range("frames=6..8"),
        });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        using var expected = JsonDocument.Parse(File.ReadAllText(Fixture("digit_frames_tasks_expected.json")));
        foreach (var (batch, width) in new[] { ("whole", 64), ("short", 48) })
        {
            var root = expected.RootElement.GetProperty(batch);
            float[] Floats(string name) => [.. root.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
            var (rows, logits, ink) = (Floats("rows"), Floats("digit"), Floats("measured"));
            var clip = rows.AsSpan(0, width).ToArray();
            var answer = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(clip)}}]}""");
            Assert.Equal(HttpStatusCode.OK, answer.Status);
            var tasks = answer.Body.GetProperty("tasks");
            Assert.Equal(logits.Take(10).Select((v, i) => (v, i)).Max().i, tasks.GetProperty("digit").GetProperty("label").GetInt32());
            Assert.Equal(ink[0], tasks.GetProperty("ink").GetProperty("values")[0].GetSingle(), 1e-5);
            var truth = $$"""{"features":[{{Numbers(clip)}}],"target":[{{root.GetProperty("digits")[0].GetInt64()}},{{Numbers([Floats("ink")[0]])}}]}""";
            Assert.Equal(HttpStatusCode.OK, (await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", truth)).Status);
        }

        var kept = serving.Device.Store.LoadTargets(64, 2, varying: model.Spec.Graph!.Varying);
        Assert.Equal([48, 64], kept.RowLengths!.Order());
        Assert.Equal(4, kept.Targets!.Length); // a digit and an ink each
    }

    /// <summary>
    /// Raw 12-bit scans of 6 to 8 frames behind PyTorch's calibration front end (<c>export_frames_frontends.py</c>),
    /// which keeps the length: each answered as PyTorch computes it through the front end and the model, monitored as
    /// the mean over the frames of what the front end made (8 values at either length), kept raw at its own length and
    /// loaded with the others for training.
    /// </summary>
    [Fact]
    public async Task RawScansOfSixToEightFrames_BehindACalibrationFrontEnd_AreAnsweredAsPyTorchDoes_AndKeptRaw()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_frames.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all")
        {
            Preprocess = File.ReadAllBytes(Fixture("pytorch_frames_calibration.onnx")), AxisLengths = AxisLengths.Parse("frames=6..8"), Varying = AxisLengths.Range("frames=6..8"),
        });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        using var expected = JsonDocument.Parse(File.ReadAllText(Fixture("frames_frontends_expected.json")));
        var root = expected.RootElement;
        float[] Floats(JsonElement e, string name) => [.. e.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        var (gain, dark) = (Floats(root, "gain"), Floats(root, "dark"));
        var calibratedMeans = new List<double[]>();
        foreach (var (scansName, key, width) in new[] { ("scans", "calibration", 64), ("short", "calibrationShort", 48) })
        {
            var (scans, scores) = (Floats(root, scansName), Floats(root.GetProperty(key), "logits"));
            for (var row = 0; row < 6; row++)
            {
                var scan = scans.AsSpan(row * width, width).ToArray();
                calibratedMeans.Add([.. Enumerable.Range(0, 8).Select(k => Enumerable.Range(0, width / 8).Average(f => Math.Clamp((scan[(f * 8) + k] - dark[k]) / gain[k], 0, 16)))]);
                var json = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(scan)}}]}""");
                Assert.Equal(HttpStatusCode.OK, json.Status);
                PyTorchSoftmax.AssertAnswered(scores.AsSpan(row * 10, 10), json.Body);
                using var raw = new ByteArrayContent(System.Runtime.InteropServices.MemoryMarshal.AsBytes(scan.AsSpan()).ToArray());
                using var binary = await serving.Http.PostAsync("/v1/predict/f32", raw);
                Assert.Equal(HttpStatusCode.OK, binary.StatusCode);
            }

            var feedback = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{Numbers(scans.AsSpan(0, width).ToArray())}}],"label":{{root.GetProperty("digits")[0].GetInt64()}}}""");
            Assert.Equal(HttpStatusCode.OK, feedback.Status);
        }

        // Monitoring sketches the calibrated frames' mean (what the model sees), 8 values at either length.
        serving.Device.Agent.FlushProfile();
        var profile = serving.Device.Outbox.Peek(100).Where(m => m.Topic.EndsWith("/profile", StringComparison.Ordinal))
            .Select(m => Shared.Protocol.V1.ProfileReport.Parser.ParseFrom(m.Payload)).Single();
        Assert.Equal((24UL, 8), (profile.Predictions, profile.Features.Count));
        foreach (var k in new[] { 0, 4, 7 }) Assert.Equal(calibratedMeans.Average(m => m[k]), profile.Features[k].Mean, 3);

        var five = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(new float[40])}}]}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, five.Status);
        Assert.Contains("expected 6 to 8 'frames' (48 to 64 values in steps of 8) features, got 40", five.Body.GetProperty("error").GetString(), StringComparison.Ordinal);

        // Kept raw, at their own length, and loaded together for training.
        var kept = serving.Device.Store.LoadSamples(64, varying: model.Spec.Graph!.Varying);
        Assert.Equal([48, 64], kept.RowLengths!.Order());
        Assert.Equal(Floats(root, "scans").Take(64), kept.Features.Skip(kept.RowLengths![0] == 64 ? 0 : 48).Take(64));
    }

    /// <summary>
    /// Raw signals of 48 to 64 samples behind PyTorch's framing front end (<c>export_frames_frontends.py</c>): one of 64
    /// samples (8 frames) and one of 53 (6 frames, 5 samples left over) answered as PyTorch computes them, kept at their
    /// own length; 47 samples refused, saying which lengths fit.
    /// </summary>
    [Fact]
    public async Task RawSignalsBehindAFramingFrontEnd_AreAnsweredAsPyTorchDoes_AtAnyLengthInTheRange()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_frames.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all")
        {
            Preprocess = File.ReadAllBytes(Fixture("pytorch_frames_framing.onnx")), AxisLengths = AxisLengths.Parse("samples=48..64,frames=8"), Varying = AxisLengths.Range("samples=48..64"),
        });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        using var expected = JsonDocument.Parse(File.ReadAllText(Fixture("frames_frontends_expected.json")));
        var root = expected.RootElement;
        float[] Floats(JsonElement e, string name) => [.. e.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        foreach (var (signals, key, width) in new[] { ("signals", "framing", 64), ("shortSignals", "framingShort", 53) })
        {
            var (signal, scores) = (Floats(root, signals).AsSpan(0, width).ToArray(), Floats(root.GetProperty(key), "logits").AsSpan(0, 10).ToArray());
            var json = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(signal)}}]}""");
            Assert.Equal(HttpStatusCode.OK, json.Status);
            PyTorchSoftmax.AssertAnswered(scores, json.Body);
            var feedback = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{Numbers(signal)}}],"label":{{root.GetProperty("digits")[0].GetInt64()}}}""");
            Assert.Equal(HttpStatusCode.OK, feedback.Status);
        }

        var short47 = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(new float[47])}}]}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, short47.Status);
        Assert.Contains("expected 48 to 64 'samples' (48 to 64 values in steps of 1) features, got 47", short47.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal([53, 64], serving.Device.Store.LoadSamples(64, varying: model.Spec.Graph!.Varying).RowLengths!.Order());
    }

    /// <summary>
    /// The frame classifier with a context input behind PyTorch's calibration: a request is a raw scan of 6 or 8 frames
    /// and then the scan's last row (8 calibrated values), answered as PyTorch computes it, sketched as the calibrated
    /// frames' mean and then the context (16 values), kept whole at its own length.
    /// </summary>
    [Fact]
    public async Task RawScansWithAContextInput_BehindACalibrationFrontEnd_AreAnsweredAsPyTorchDoes_AndKeptWhole()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_frames_context.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all")
        {
            Input = "rows", Preprocess = File.ReadAllBytes(Fixture("pytorch_frames_calibration.onnx")), AxisLengths = AxisLengths.Parse("frames=6..8"), Varying = AxisLengths.Range("frames=6..8"),
        });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        using var expected = JsonDocument.Parse(File.ReadAllText(Fixture("frames_frontends_expected.json")));
        var root = expected.RootElement;
        float[] Floats(JsonElement e, string name) => [.. e.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        var last = Floats(root.GetProperty("context"), "lastRow");
        foreach (var (scansName, key, frames) in new[] { ("scans", "whole", 8), ("short", "short", 6) })
        {
            var (scans, scores) = (Floats(root, scansName), Floats(root.GetProperty("context").GetProperty(key), "logits"));
            for (var row = 0; row < 6; row++)
            {
                float[] sample = [.. scans.AsSpan(row * frames * 8, frames * 8), .. last.AsSpan(row * 8, 8)];
                var json = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(sample)}}]}""");
                Assert.Equal(HttpStatusCode.OK, json.Status);
                PyTorchSoftmax.AssertAnswered(scores.AsSpan(row * 10, 10), json.Body);
                using var raw = new ByteArrayContent(System.Runtime.InteropServices.MemoryMarshal.AsBytes(sample.AsSpan()).ToArray());
                using var binary = await serving.Http.PostAsync("/v1/predict/f32", raw);
                Assert.Equal(HttpStatusCode.OK, binary.StatusCode);
                if (row == 0)
                    Assert.Equal(HttpStatusCode.OK, (await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{Numbers(sample)}}],"label":{{root.GetProperty("digits")[0].GetInt64()}}}""")).Status);
            }
        }

        serving.Device.Agent.FlushProfile();
        var profile = serving.Device.Outbox.Peek(100).Where(m => m.Topic.EndsWith("/profile", StringComparison.Ordinal))
            .Select(m => Shared.Protocol.V1.ProfileReport.Parser.ParseFrom(m.Payload)).Single();
        Assert.Equal((24UL, 16), (profile.Predictions, profile.Features.Count)); // a calibrated frame's mean, then the context
        foreach (var k in new[] { 0, 5, 7 }) Assert.Equal(Enumerable.Range(0, 6).Average(r => (double)last[(r * 8) + k]), profile.Features[8 + k].Mean, 3);
        Assert.Equal([56, 72], serving.Device.Store.LoadSamples(72, varying: model.Spec.Graph!.Varying).RowLengths!.Order());
    }
}
