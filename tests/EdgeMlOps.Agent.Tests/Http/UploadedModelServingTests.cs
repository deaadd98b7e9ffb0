using System.Net;
using EdgeMlOps.Agent.Http;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>
/// A real agent serving a CNN exported by PyTorch, installed as the uploaded bytes under its signed interface:
/// its local API answers with what ONNX Runtime computes on the original file, and an artifact that does not carry
/// the declared interface is never served.
/// </summary>
public sealed class UploadedModelServingTests
{
    private static readonly byte[] Cnn = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_cnn_digits04.onnx"));

    [Fact]
    public async Task TheLocalApi_ServesTheUploadedCnn_WithTheOutputsOnnxRuntimeGivesTheOriginalFile()
    {
        var model = UploadedClassifier.Open(Cnn, new UploadedClassifierOptions("last:1"));
        await using var serving = await ServingAgent.StartAsync(model, Cnn);
        var (device, http) = (serving.Device, serving.Http);

        var info = await http.SendJsonAsync(HttpMethod.Get, "/v1/model");
        Assert.Equal(HttpStatusCode.OK, info.Status);
        Assert.Equal(ContentHash.Sha256Hex(Cnn), info.Body.GetProperty("sha256").GetString());
        Assert.Equal(784, info.Body.GetProperty("inputDim").GetInt32());
        var declared = info.Body.GetProperty("interface");
        Assert.Equal("features", declared.GetProperty("input").GetString());
        Assert.Equal([1, 28, 28], declared.GetProperty("sampleShape").EnumerateArray().Select(d => d.GetInt32()));
        Assert.Equal(["head.weight", "head.bias"], declared.GetProperty("trained").EnumerateArray().Select(t => t.GetString()));

        using var original = new InferenceSession(Cnn);
        var random = new Random(4);
        for (var request = 0; request < 3; request++)
        {
            var pixels = Enumerable.Range(0, 784).Select(_ => random.NextSingle()).ToArray();
            var (status, body) = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{string.Join(',', pixels.Select(p => p.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}}]}""");
            Assert.Equal(HttpStatusCode.OK, status);

            using var input = OrtValue.CreateTensorValueFromMemory(pixels, [1, 1, 28, 28]);
            using var runOptions = new RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
            using var outputs = original.Run(runOptions, ["features"], [input], ["probabilities", "label"]);
            var expected = outputs[0].GetTensorDataAsSpan<float>().ToArray();
            var served = body.GetProperty("probabilities").EnumerateArray().Select(p => p.GetSingle()).ToArray();
            Assert.Equal(expected.Length, served.Length);
            for (var k = 0; k < expected.Length; k++) Assert.Equal(expected[k], served[k], 5);
            Assert.Equal(outputs[1].GetTensorDataAsSpan<long>()[0], body.GetProperty("label").GetInt64());

            // The same sample as 3,136 raw bytes instead of ~15 kB of JSON numbers.
            using var raw = new ByteArrayContent(System.Runtime.InteropServices.MemoryMarshal.AsBytes(pixels.AsSpan()).ToArray());
            using var binary = await http.PostAsync("/v1/predict/f32", raw);
            Assert.Equal(HttpStatusCode.OK, binary.StatusCode);
            using var binaryBody = System.Text.Json.JsonDocument.Parse(await binary.Content.ReadAsStringAsync());
            Assert.Equal(served, binaryBody.RootElement.GetProperty("probabilities").EnumerateArray().Select(p => p.GetSingle()));
        }

        using var short_ = await http.PostAsync("/v1/predict/f32", new ByteArrayContent(new byte[100]));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, short_.StatusCode);
        Assert.Contains("expected 3136 bytes (784 little-endian float32), got 100", await short_.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var nan = new byte[3136];
        BitConverter.GetBytes(float.NaN).CopyTo(nan, 40);
        using var notFinite = await http.PostAsync("/v1/predict/f32", new ByteArrayContent(nan));
        Assert.Equal(HttpStatusCode.BadRequest, notFinite.StatusCode);
        Assert.Contains("value 10 is not a finite number", await notFinite.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    /// <summary>
    /// The keyword CNN as a classifier the fleet trains, behind PyTorch's mel front end: callers send raw audio (8,192
    /// values, as JSON or 32 kB of float32), the agent answers as the CNN's own file on PyTorch's features, keeps the
    /// raw sample for training, and says what fronts the model.
    /// </summary>
    [Fact]
    public async Task AClassifierBehindAFrontEnd_TakesRawAudio_AndAnswersAsTheCnnOnPyTorchsFeatures()
    {
        static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);
        var (kws, front) = (File.ReadAllBytes(Fixture("pytorch_kws_1d.onnx")), File.ReadAllBytes(Fixture("pytorch_mel_frontend.onnx")));
        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture("mel_frontend_expected.json")));
        var p = expected.RootElement.GetProperty("waves")[0].EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var wave = Enumerable.Range(0, 8192).Select(n => (float)((p[0] * Math.Sin(2 * Math.PI * p[1] * n / 8000.0)) + (p[2] * Math.Sin((2 * Math.PI * p[3] * n / 8000.0) + 0.3)))).ToArray();
        var features = expected.RootElement.GetProperty("features")[0].EnumerateArray().Select(v => v.GetSingle()).ToArray();
        var model = UploadedClassifier.Open(kws, new UploadedClassifierOptions("last:1") { Preprocess = front });
        await using var serving = await ServingAgent.StartAsync(model, kws);
        var http = serving.Http;

        var declared = (await http.SendJsonAsync(HttpMethod.Get, "/v1/model")).Body.GetProperty("interface");
        Assert.Equal([8192], declared.GetProperty("sampleShape").EnumerateArray().Select(d => d.GetInt32()));
        Assert.Equal(ContentHash.Sha256Hex(front), declared.GetProperty("preprocess").GetProperty("sha256").GetString());
        Assert.Equal(["features"], declared.GetProperty("preprocess").GetProperty("feeds").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal([40, 32], declared.GetProperty("featureShape").EnumerateArray().Select(d => d.GetInt32())); // what the CNN sees, and what monitoring sketches

        using var original = new InferenceSession(kws);
        using var input = OrtValue.CreateTensorValueFromMemory(features, [1, 40, 32]);
        using var runOptions = new RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
        using var outputs = original.Run(runOptions, ["features"], [input], ["probabilities"]);
        var reference = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        var json = string.Join(',', wave.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
        var (status, body) = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{json}}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var served = body.GetProperty("probabilities").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        Assert.All(Enumerable.Range(0, 5), k => Assert.Equal(reference[k], served[k], 4));
        using var binary = await http.PostAsync("/v1/predict/f32", new ByteArrayContent(System.Runtime.InteropServices.MemoryMarshal.AsBytes(wave.AsSpan()).ToArray()));
        Assert.Equal(HttpStatusCode.OK, binary.StatusCode);

        // Feedback keeps the raw sample (what the front end takes), which local training runs through it.
        var before = serving.Device.Store.SampleCount;
        var feedback = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{json}}],"label":3}""");
        Assert.Equal(HttpStatusCode.OK, feedback.Status);
        Assert.Equal(before + 1, serving.Device.Store.SampleCount);
        var features1280 = string.Join(',', features.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
        var wrong = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{features1280}}]}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, wrong.Status); // the model's own features are not what callers send
        Assert.Contains("8192", wrong.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// Behind a front end the window profile sketches the features the model sees (1,280 log-mel values per sample, the
    /// front end's output) — not the 8,192 raw audio values, whose windows would exceed the aggregator's size limit
    /// and whose per-sample values say nothing about drift in what the model hears.
    /// </summary>
    [Fact]
    public async Task AClassifierBehindAFrontEnd_ProfilesTheFeaturesItsModelSees_NotTheRawAudio()
    {
        static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);
        var (kws, front) = (File.ReadAllBytes(Fixture("pytorch_kws_1d.onnx")), File.ReadAllBytes(Fixture("pytorch_mel_frontend.onnx")));
        var model = UploadedClassifier.Open(kws, new UploadedClassifierOptions("last:1") { Preprocess = front });
        await using var serving = await ServingAgent.StartAsync(model, kws);
        const int Waves = 30;
        var waves = new float[Waves * 8192];
        for (var i = 0; i < Waves; i++)
        {
            for (var n = 0; n < 8192; n++) waves[(i * 8192) + n] = (float)((0.4 + (0.02 * i)) * Math.Sin(2 * Math.PI * (150 + (45 * i)) * n / 8000.0));
            serving.Device.Agent.Predict(waves.AsSpan(i * 8192, 8192));
        }

        serving.Device.Agent.FlushProfile();
        var profile = serving.Device.Outbox.Peek(100).Where(m => m.Topic.EndsWith("/profile", StringComparison.Ordinal))
            .Select(m => ProfileReport.Parser.ParseFrom(m.Payload)).Single();
        Assert.Equal(((ulong)Waves, 1280), (profile.Predictions, profile.Features.Count));

        // Each sketch holds the front end's values for that feature, as ONNX Runtime computes them on the front end's file.
        using var session = new InferenceSession(front);
        using var input = OrtValue.CreateTensorValueFromMemory(waves, [Waves, 8192]);
        using var runOptions = new RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
        using var made = session.Run(runOptions, ["wave"], [input], ["features"]);
        var features = made[0].GetTensorDataAsSpan<float>().ToArray();
        foreach (var k in new[] { 0, 17, 640, 1279 })
        {
            var mean = Enumerable.Range(0, Waves).Average(i => (double)features[(i * 1280) + k]);
            Assert.Equal((ulong)Waves, profile.Features[k].Count);
            Assert.Equal(mean, profile.Features[k].Mean, 3);
        }

        Assert.True(profile.CalculateSize() < 1 << 20, $"{profile.CalculateSize()} bytes");
    }

    [Fact]
    public async Task AnArtifactWithoutTheDeclaredTrainedTensors_IsNotServed()
    {
        // The manifest declares the CNN's interface; the stored bytes are another graph (a dense classifier).
        var model = UploadedClassifier.Open(Cnn, new UploadedClassifierOptions("last:1"));
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-agent-" + Guid.NewGuid().ToString("N"));
        ServingAgent.Install(new ModelStore(Path.Combine(dir, "models")), model, ClassifierGraphs.BuildInference(ModelWeights.Initialize(ModelSpec.Mlp(784, [8], 10), 1)).ToByteArray());
        await using var device = await OfflineAgent.StartAsync(dir);

        Assert.Null(device.Agent.CurrentModel);
        Assert.Contains("head.weight", device.Agent.ModelNotice, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AScikitLearnForest_IsServedWithoutATrainStep_AndAnswersWhatScikitLearnPredicted()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "sklearn_forest_wine.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions(UploadedClassifier.ServeOnly));
        Assert.Null(model.TrainStep);
        Assert.False(model.Spec.Trainable);
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        var (device, http) = (serving.Device, serving.Http);

        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "sklearn_forest_expected.json")));
        var features = expected.RootElement.GetProperty("features").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var probabilities = expected.RootElement.GetProperty("probabilities").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var predicted = expected.RootElement.GetProperty("predicted").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        for (var row = 0; row < 10; row++)
        {
            var sample = features.AsSpan(row * 13, 13).ToArray();
            var (status, body) = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{string.Join(',', sample.Select(p => p.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}}]}""");
            Assert.Equal(HttpStatusCode.OK, status);
            var served = body.GetProperty("probabilities").EnumerateArray().Select(p => p.GetSingle()).ToArray();
            for (var k = 0; k < 3; k++) Assert.Equal(probabilities[row * 3 + k], served[k], 5);
            Assert.Equal(predicted[row], body.GetProperty("label").GetInt64());
        }

        // Labels still arrive and are kept; no training ever starts on a model without a train step.
        var feedback = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{string.Join(',', features.AsSpan(0, 13).ToArray().Select(p => p.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}}],"label":1}""");
        Assert.Equal(HttpStatusCode.OK, feedback.Status);
        var info = await http.SendJsonAsync(HttpMethod.Get, "/v1/model");
        Assert.Empty(info.Body.GetProperty("interface").GetProperty("trained").EnumerateArray());
    }

    [Fact]
    public async Task ABinaryDetectorWithOneSigmoidScore_IsServedAsTwoClasses_WithPyTorchsScore_AndTakesLabelsZeroOrOne()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_binary_detector.onnx"));
        await using var serving = await ServingAgent.StartAsync(UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all")), bytes);
        var http = serving.Http;

        var info = await http.SendJsonAsync(HttpMethod.Get, "/v1/model");
        Assert.Equal(2, info.Body.GetProperty("classes").GetInt32());
        Assert.Equal("one probability per row for class 1 of 2", info.Body.GetProperty("interface").GetProperty("outputKind").GetString());

        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "binary_detector_expected.json")));
        var rows = expected.RootElement.GetProperty("rows").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var scores = expected.RootElement.GetProperty("scores").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        for (var row = 0; row < scores.Length; row++)
        {
            var sample = rows.AsSpan(row * 8, 8).ToArray();
            var (status, body) = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{string.Join(',', sample.Select(p => p.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}}]}""");
            Assert.Equal(HttpStatusCode.OK, status);
            var served = body.GetProperty("probabilities").EnumerateArray().Select(p => p.GetSingle()).ToArray();
            Assert.Equal(2, served.Length);
            Assert.Equal(scores[row], served[1], 5);
            Assert.Equal(1 - scores[row], served[0], 5);
            Assert.Equal(scores[row] > 0.5f ? 1 : 0, body.GetProperty("label").GetInt64());
        }

        var sampleText = string.Join(',', rows.AsSpan(0, 8).ToArray().Select(p => p.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(HttpStatusCode.OK, (await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{sampleText}}],"label":1}""")).Status);
        Assert.Equal((HttpStatusCode)422, (await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{sampleText}}],"label":2}""")).Status);
    }

    [Fact]
    public async Task AModelOverTokenIds_TakesWholeNumbers_AndRefusesAnythingElseWith422()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_text_ids.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all"));
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        var (device, http) = (serving.Device, serving.Http);

        var ok = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", """{"features":[1,2,3,4,5,6,7,8,9,10,11,12]}""");
        Assert.Equal(HttpStatusCode.OK, ok.Status);
        Assert.Equal(1.0, ok.Body.GetProperty("probabilities").EnumerateArray().Sum(p => p.GetDouble()), 4); // logits softmaxed on the device
        var fraction = await http.SendJsonAsync(HttpMethod.Post, "/v1/predict", """{"features":[1,2,3,4,5,6,7,8,9,10,11,2.5]}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, fraction.Status);
        Assert.Contains("features[11] is 2.5, not an id", fraction.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        var negative = await http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", """{"features":[-1,2,3,4,5,6,7,8,9,10,11,12],"label":1}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, negative.Status);
        Assert.Equal(0, device.Store.SampleCount); // nothing the model could not train on is kept
        Assert.True((await http.SendJsonAsync(HttpMethod.Get, "/v1/model")).Body.GetProperty("interface").GetProperty("integerFeatures").GetBoolean());

        // What-if questions and explanations ask about ids too: a value that is not one is the caller's error, said as such.
        var setFraction = await http.SendJsonAsync(HttpMethod.Post, "/v1/whatif", """{"features":[1,2,3,4,5,6,7,8,9,10,11,12],"set":{"3":2.5}}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, setFraction.Status);
        Assert.Contains("features[3] is 2.5, not an id", setFraction.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        var sweepNegative = await http.SendJsonAsync(HttpMethod.Post, "/v1/whatif", """{"features":[1,2,3,4,5,6,7,8,9,10,11,12],"sweep":{"feature":0,"values":[1,-4]}}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, sweepNegative.Status);
        Assert.Contains("features[0] is -4, not an id", sweepNegative.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        var explainFraction = await http.SendJsonAsync(HttpMethod.Post, "/v1/explain", """{"features":[1,2,3,4,5,6,7,8,9,10,11,0.5]}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, explainFraction.Status);
        var sweepIds = await http.SendJsonAsync(HttpMethod.Post, "/v1/whatif", """{"features":[1,2,3,4,5,6,7,8,9,10,11,12],"sweep":{"feature":0,"values":[1,7]}}""");
        Assert.Equal(HttpStatusCode.OK, sweepIds.Status);
    }
}
