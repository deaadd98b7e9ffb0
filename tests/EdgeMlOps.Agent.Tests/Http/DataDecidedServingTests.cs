using System.Net;
using System.Text.Json;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Models;

using static EdgeMlOps.Agent.Tests.Http.LocalApiClient;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>
/// PyTorch's frame classifier behind PyTorch's trimming front end (<c>export_trimming_frontend.py</c>), which drops a
/// raw scan's quiet frames, on a real agent's local API (<c>ModelInterface:AxisLengths=readings=6..8,frames=1..8</c>):
/// each scan answered as PyTorch computes it whatever number of frames its values keep, kept raw at its own length,
/// monitored by the kept frames' mean; a scan whose values keep fewer frames than the signed range is refused, saying
/// so, and not kept.
/// </summary>
public sealed class DataDecidedServingTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("trimming_frontend_expected.json"))).RootElement;

    private static float[] Floats(JsonElement e, string name) => [.. e.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];

    /// <summary>Scan <paramref name="index"/> of 64 values in <paramref name="scans"/>.</summary>
    private static float[] Scan(float[] scans, int index) => scans[(index * 64)..((index + 1) * 64)];

    /// <summary>POST /v1/predict with <paramref name="features"/> as one sample.</summary>
    private static Task<(HttpStatusCode Status, JsonElement Body)> PredictAsync(ServingAgent serving, float[] features) =>
        serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{Numbers(features)}}]}""");

    private static UploadedClassifier Open(byte[] bytes, string pins, string? tasks = null) => UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all")
    {
        Preprocess = File.ReadAllBytes(Fixture("pytorch_frames_trimming.onnx")), AxisLengths = AxisLengths.Parse(pins), Varying = AxisLengths.Range(pins), Made = AxisLengths.MadeRange(pins),
        Tasks = tasks is null ? [] : ModelTask.Parse(tasks),
    });

    [Fact]
    public async Task ScansWhoseQuietFramesAreDropped_AreAnsweredAsPyTorchDoes_AndKeptRaw()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_frames.onnx"));
        var model = Open(bytes, "readings=6..8,frames=1..8");
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        var digits = Expected.GetProperty("digits").EnumerateArray().Select(d => d.GetInt64()).ToArray();
        foreach (var (scansName, key, width) in new[] { ("scans", "whole", 64), ("short", "cut", 48) })
        {
            var (scans, scores) = (Floats(Expected, scansName), Floats(Expected.GetProperty(key), "logits"));
            for (var row = 0; row < 6; row++)
            {
                var scan = scans.AsSpan(row * width, width).ToArray();
                var json = await PredictAsync(serving, scan);
                Assert.Equal(HttpStatusCode.OK, json.Status);
                PyTorchSoftmax.AssertAnswered(scores.AsSpan(row * 10, 10), json.Body);
            }

            var feedback = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{Numbers(scans.AsSpan(0, width).ToArray())}}],"label":{{digits[0]}}}""");
            Assert.Equal(HttpStatusCode.OK, feedback.Status);
        }

        serving.Device.Agent.FlushProfile();
        var profile = serving.Device.Outbox.Peek(100).Where(m => m.Topic.EndsWith("/profile", StringComparison.Ordinal))
            .Select(m => Shared.Protocol.V1.ProfileReport.Parser.ParseFrom(m.Payload)).Single();
        Assert.Equal((12UL, 8), (profile.Predictions, profile.Features.Count)); // a kept frame's mean, whatever is kept
        var kept = serving.Device.Store.LoadSamples(64, varying: model.Spec.Graph!.Varying);
        Assert.Equal([48, 64], kept.RowLengths!.Order()); // raw, at their own length
    }

    /// <summary>Scans of one length (<c>readings=8,frames=1..8</c>): answered as PyTorch does, whatever they keep; a scan of 6 readings refused by its size.</summary>
    [Fact]
    public async Task ScansOfOneLength_WhoseFramesTheDataDecides_AreAnsweredAsPyTorchDoes()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_frames.onnx"));
        var model = Open(bytes, "readings=8,frames=1..8");
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        var (scans, scores) = (Floats(Expected, "scans"), Floats(Expected.GetProperty("whole"), "logits"));
        for (var row = 0; row < 6; row++)
        {
            var json = await PredictAsync(serving, Scan(scans, row));
            Assert.Equal(HttpStatusCode.OK, json.Status);
            PyTorchSoftmax.AssertAnswered(scores.AsSpan(row * 10, 10), json.Body);
        }

        var cut = await PredictAsync(serving, Floats(Expected, "short")[..48]);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, cut.Status);
        Assert.Contains("expected 64 features, got 48", cut.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AScanThatKeepsFewerFramesThanTheSignedRange_IsRefused_AndNotKept()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_frames.onnx"));
        var model = Open(bytes, "readings=6..8,frames=3..8");
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        var scans = Floats(Expected, "scans");
        var three = await PredictAsync(serving, Scan(scans, 0)); // keeps 3 frames
        Assert.Equal(HttpStatusCode.OK, three.Status);
        var two = await PredictAsync(serving, Scan(scans, 1)); // keeps 2
        Assert.Equal(HttpStatusCode.UnprocessableEntity, two.Status);
        Assert.Contains("the preprocessing graph made 16 values per sample; the interface declares 3 to 8 'frames'", two.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        var health = await serving.Http.SendJsonAsync(HttpMethod.Get, "/v1/health", null);
        Assert.Equal(1, health.Body.GetProperty("samplesRefused").GetInt64()); // counted
        var feedback = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{Numbers(Scan(scans, 1))}}],"label":1}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, feedback.Status);
        Assert.Contains("3 to 8 'frames'", feedback.Body.GetProperty("error").GetString(), StringComparison.Ordinal); // ground truth it could never train on
        Assert.Empty(serving.Device.Store.LoadSamples(64, varying: model.Spec.Graph!.Varying).RowLengths ?? []);
        Assert.Equal(2, (await serving.Http.SendJsonAsync(HttpMethod.Get, "/v1/health", null)).Body.GetProperty("samplesRefused").GetInt64());

        // A what-if that makes the first frame loud enough to silence the rest (1 frame kept) cannot be answered, saying why.
        var loud = "{" + string.Join(',', Enumerable.Range(0, 8).Select(i => $"\"{i}\":4000")) + "}";
        var whatIf = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/whatif", $$"""{"features":[{{Numbers(Scan(scans, 0))}}],"set":{{loud}}}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, whatIf.Status);
        Assert.Contains("the model refuses a sample this needs: the preprocessing graph made 8 values per sample", whatIf.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// A model with targets behind the trimming (PyTorch's two-task frame model: a digit and the scan's ink), declared
    /// <c>frames=3..8</c>: a scan keeping 2 frames is answered 422 saying why, as a classifier's is, and counted.
    /// </summary>
    [Fact]
    public async Task AScanTheFrontEndRefuses_IsAnswered422_ByATwoTaskModel_AndCounted()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_frames_tasks.onnx"));
        var model = Open(bytes, "readings=6..8,frames=3..8", "digit:classes,ink:regression");
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        var scans = Floats(Expected, "scans");
        var three = await PredictAsync(serving, Scan(scans, 0)); // keeps 3 frames
        Assert.Equal(HttpStatusCode.OK, three.Status);
        Assert.Equal(2, three.Body.GetProperty("tasks").EnumerateObject().Count());
        var two = await PredictAsync(serving, Scan(scans, 1)); // keeps 2
        Assert.Equal(HttpStatusCode.UnprocessableEntity, two.Status);
        Assert.Contains("the interface declares 3 to 8 'frames'", two.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, (await serving.Http.SendJsonAsync(HttpMethod.Get, "/v1/health", null)).Body.GetProperty("samplesRefused").GetInt64());

        // Its targets as ground truth: refused the same way, not kept; the scan that keeps 3 frames is kept.
        var refused = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{Numbers(Scan(scans, 1))}}],"target":[1,0.5]}""");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Status);
        Assert.Contains("3 to 8 'frames'", refused.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        var kept = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{Numbers(Scan(scans, 0))}}],"target":[0,0.5]}""");
        Assert.Equal(HttpStatusCode.OK, kept.Status);
        Assert.Equal(1, serving.Device.Store.SampleCount);
        Assert.Equal(2, (await serving.Http.SendJsonAsync(HttpMethod.Get, "/v1/health", null)).Body.GetProperty("samplesRefused").GetInt64());
    }

    /// <summary>
    /// An A/B test whose arm B's version declares a narrower range (<c>frames=3..8</c>) than the served one
    /// (<c>frames=1..8</c>): a scan B's front end refuses is answered by the served version and counted as B's failure,
    /// not refused to the caller; a scan both take is answered by B.
    /// </summary>
    [Fact]
    public async Task AScanArmBsFrontEndRefuses_IsAnsweredByTheServedVersion_AndCountedAsBsFailure()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_frames.onnx"));
        await using var serving = await ServingAgent.StartAsync(Open(bytes, "readings=6..8,frames=1..8"), bytes);
        var cache = new Runtime.SharedCache<Runtime.InferenceModel>();
        var narrower = Open(bytes, "readings=6..8,frames=3..8").Spec;
        serving.Device.Agent.RolloutControl.Experiment.Begin(new EdgeMlOps.Agent.Experiments.ExperimentSession("r1", versionA: 1, versionB: 2, split: 1.0,
            await cache.AcquireAsync("v2", () => Task.FromResult(Runtime.InferenceModel.Load(bytes, narrower, preprocess: File.ReadAllBytes(Fixture("pytorch_frames_trimming.onnx")))))));

        var scans = Floats(Expected, "scans");
        var three = await PredictAsync(serving, Scan(scans, 0)); // keeps 3 frames
        Assert.Equal((HttpStatusCode.OK, 2UL), (three.Status, three.Body.GetProperty("modelVersion").GetUInt64()));
        var two = await PredictAsync(serving, Scan(scans, 1)); // keeps 2
        Assert.Equal((HttpStatusCode.OK, 1UL), (two.Status, two.Body.GetProperty("modelVersion").GetUInt64()));
        PyTorchSoftmax.AssertAnswered(Floats(Expected.GetProperty("whole"), "logits").AsSpan(10, 10), two.Body);
        var report = serving.Device.Agent.Experiment!;
        Assert.Equal((1UL, 1UL, 1UL), (report.B.Served, report.B.Errors, report.A.Served));
        Assert.Equal(0, (await serving.Http.SendJsonAsync(HttpMethod.Get, "/v1/health", null)).Body.GetProperty("samplesRefused").GetInt64()); // the device answered it
    }

    /// <summary>
    /// A shadow test of a candidate whose front end declares a narrower range (<c>frames=3..8</c>) than the served
    /// version's (<c>frames=1..8</c>): the scans it refuses are counted as its errors, and it goes on scoring the others
    /// (a refusal used to end the shadow's scoring for good, and its stop to throw).
    /// </summary>
    [Fact]
    public async Task AShadowCandidateWhoseFrontEndRefusesAScan_CountsAnError_AndGoesOnScoring()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_frames.onnx"));
        var trimming = File.ReadAllBytes(Fixture("pytorch_frames_trimming.onnx"));
        using var incumbent = Runtime.InferenceModel.Load(bytes, Open(bytes, "readings=6..8,frames=1..8").Spec, preprocess: trimming);
        var cache = new Runtime.SharedCache<Runtime.InferenceModel>();
        var candidate = await cache.AcquireAsync("v2", () => Task.FromResult(Runtime.InferenceModel.Load(bytes, Open(bytes, "readings=6..8,frames=3..8").Spec, preprocess: trimming)));
        var session = new EdgeMlOps.Agent.Shadow.ShadowSession("r1", 1, 2, candidate, new Shared.Protocol.V1.ShadowPolicy { Share = 1, SampleRate = 1, MaxCpuShare = 1, MaxPending = 64 }, memoryBytes: 0);
        await using (session)
        {
            var scans = Floats(Expected, "scans");
            for (var i = 0; i < 6; i++) // scans 1, 3 and 5 keep 2 frames
            {
                var scan = Scan(scans, i);
                var served = incumbent.Predict(scan, 1);
                session.Offer($"p{i}", scan, served.Labels[0], served.Probabilities, TimeSpan.FromMilliseconds(1));
            }

            await Eventually.Until(() => session.Report().Scored + session.Report().CandidateErrors == 6, "every scan scored or failed");
            Assert.Equal((3UL, 3UL), (session.Report().Scored, session.Report().CandidateErrors));
            var again = Scan(scans, 0);
            var answer = incumbent.Predict(again, 1);
            session.Offer("p6", again, answer.Labels[0], answer.Probabilities, TimeSpan.FromMilliseconds(1));
            await Eventually.Until(() => session.Report().Scored == 4, "a scan it takes, after the refusals");
        }
    }
}
