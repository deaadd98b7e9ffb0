using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A streaming classifier whose calls bring chunks of any length (<c>export_streaming_frames.py</c>: a scan's rows in
/// calls of 3, 3 and 2 frames, a 1-D convolution and its mean per call, the state an input and an output): declared with
/// its state pair and <c>frames=2..3</c>, a row is the chunk at its own length and then the state it starts from. A
/// scan fed in three calls answers what PyTorch answers after each, and one step on 3-frame rows and one on 2-frame rows
/// follow PyTorch's gradient with the state detached.
/// </summary>
public class VaryingLengthStreamingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly byte[] Streaming = File.ReadAllBytes(Fixture("pytorch_streaming_frames.onnx"));

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("streaming_frames_expected.json"))).RootElement;

    internal static UploadedClassifier Open() => UploadedClassifier.Open(Streaming, new UploadedClassifierOptions("all")
    {
        Input = "rows", States = [("h_in", "h_out")], AxisLengths = AxisLengths.Parse("frames=2..3"), Varying = AxisLengths.Range("frames=2..3"),
    });

    private static float[] Floats(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetSingle())];

    [Fact]
    public void AScanFedInCallsOfThreeThreeAndTwoFrames_CarryingTheState_AnswersWhatPyTorchAnswers_AndEachLengthSteps()
    {
        var uploaded = Open();
        var graph = uploaded.Spec.Graph!;
        Assert.Equal(16, graph.Varying!.Trailing); // the state the call starts from, after the chunk
        Assert.Equal(40, uploaded.Spec.InputDim); // the longest: 3 frames of 8, then 16 state values
        Assert.Equal((24, 16), (graph.StateSpans(40)[0].Offset, graph.StateSpans(32)[0].Offset)); // the state trails a chunk of 3 frames, or of 2
        Assert.Equal(uploaded.Spec, ModelArchitectures.ToSpec(ModelArchitectures.From(uploaded.Spec, []))); // signed and read back whole

        using var model = InferenceModel.Load(Streaming, uploaded.Spec);
        var pixels = Floats(Expected.GetProperty("pixels"));
        const int Scans = 6;
        var state = new float[Scans * 16];
        var chunks = Expected.GetProperty("chunks").EnumerateArray().Select(c => (From: c[0].GetInt32(), To: c[1].GetInt32())).ToArray();
        for (var call = 0; call < chunks.Length; call++)
        {
            var width = (chunks[call].To - chunks[call].From) * 8;
            var rows = new float[Scans * (width + 16)];
            for (var s = 0; s < Scans; s++)
            {
                pixels.AsSpan((s * 64) + (chunks[call].From * 8), width).CopyTo(rows.AsSpan(s * (width + 16), width));
                state.AsSpan(s * 16, 16).CopyTo(rows.AsSpan((s * (width + 16)) + width, 16));
            }

            var answer = model.Predict(rows, Scans);
            PyTorchLogits.AssertSoftmax([.. Floats(Expected.GetProperty("logitsByCall")[call]).Select(v => (double)v)], answer.Probabilities, classes: 10);
            state = Assert.Single(answer.States);
            Assert.All(Floats(Expected.GetProperty("statesByCall")[call]).Zip(state), p => Assert.Equal(p.First, p.Second, 1e-5));
        }

        using var trainer = new TrainStepModel(uploaded.TrainStep!, uploaded.Spec);
        var initial = uploaded.InitialWeights();
        const float Lr = 0.5f;
        foreach (var call in new[] { "call1", "call2" })
        {
            var batch = Expected.GetProperty(call);
            var rows = Floats(batch.GetProperty("rows"));
            var digits = batch.GetProperty("digits").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            var result = trainer.TrainLengths(initial.Values, rows, [.. Enumerable.Repeat(rows.Length / Scans, Scans)], digits, new LocalTrainingPlan(1, Scans, Lr, 1));
            Assert.Equal(batch.GetProperty("loss").GetDouble(), result.Loss, 4);
            var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, batch);
            output.WriteLine($"{call} ({rows.Length / Scans} values a row): loss {result.Loss:F5}, worst relative gradient error {worst:G3}");
            Assert.True(worst < 1e-3, $"the step on {call} differs from PyTorch's gradient by up to {worst:P3} (relative)");
        }
    }

    /// <summary>
    /// The same streaming classifier behind PyTorch's calibration front end (<c>export_frames_frontends.py</c>): each
    /// call's chunk sent as raw 12-bit counts (intensity × a column's gain plus its dark level), the state after it as
    /// it is. The front end undoes the counts exactly, so the answers, the states and the steps are PyTorch's on the
    /// calibrated scans: the state is a context input, fed beside the front end, not through it.
    /// </summary>
    [Fact]
    public void BehindACalibrationFrontEnd_RawChunksCarryTheState_AndAnswerAndStepAsPyTorchDoes()
    {
        var front = File.ReadAllBytes(Fixture("pytorch_frames_calibration.onnx"));
        var uploaded = UploadedClassifier.Open(Streaming, new UploadedClassifierOptions("all")
        {
            Input = "rows", States = [("h_in", "h_out")], AxisLengths = AxisLengths.Parse("frames=2..3"), Varying = AxisLengths.Range("frames=2..3"), Preprocess = front,
        });
        Assert.Equal((40, 24), (uploaded.Spec.InputDim, uploaded.Spec.MonitoredWidth)); // 3 raw frames and the state; a frame's mean and the state
        static float[] Raw(ReadOnlySpan<float> rows, int width, int stride) // each row's first `width` values to counts, the rest (the state) as it is
        {
            var raw = rows.ToArray();
            for (var i = 0; i < raw.Length; i++)
                if (i % stride < width) raw[i] = SensorCounts.Of(raw[i], i % stride);
            return raw;
        }

        using var model = InferenceModel.Load(Streaming, uploaded.Spec, preprocess: front);
        var pixels = Floats(Expected.GetProperty("pixels"));
        const int Scans = 6;
        var state = new float[Scans * 16];
        var chunks = Expected.GetProperty("chunks").EnumerateArray().Select(c => (From: c[0].GetInt32(), To: c[1].GetInt32())).ToArray();
        for (var call = 0; call < chunks.Length; call++)
        {
            var width = (chunks[call].To - chunks[call].From) * 8;
            var rows = new float[Scans * (width + 16)];
            for (var s = 0; s < Scans; s++)
            {
                pixels.AsSpan((s * 64) + (chunks[call].From * 8), width).CopyTo(rows.AsSpan(s * (width + 16), width));
                state.AsSpan(s * 16, 16).CopyTo(rows.AsSpan((s * (width + 16)) + width, 16));
            }

            var answer = model.Predict(Raw(rows, width, width + 16), Scans);
            PyTorchLogits.AssertSoftmax([.. Floats(Expected.GetProperty("logitsByCall")[call]).Select(v => (double)v)], answer.Probabilities, classes: 10);
            state = Assert.Single(answer.States);
            Assert.All(Floats(Expected.GetProperty("statesByCall")[call]).Zip(state), p => Assert.Equal(p.First, p.Second, 1e-5));
        }

        using var trainer = new TrainStepModel(uploaded.TrainStep!, uploaded.Spec, preprocess: front);
        var initial = uploaded.InitialWeights();
        const float Lr = 0.5f;
        foreach (var call in new[] { "call1", "call2" })
        {
            var batch = Expected.GetProperty(call);
            var rows = Floats(batch.GetProperty("rows"));
            var stride = rows.Length / Scans;
            var digits = batch.GetProperty("digits").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            var result = trainer.TrainLengths(initial.Values, Raw(rows, stride - 16, stride), [.. Enumerable.Repeat(stride, Scans)], digits, new LocalTrainingPlan(1, Scans, Lr, 1));
            Assert.Equal(batch.GetProperty("loss").GetDouble(), result.Loss, 4);
            var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, batch);
            output.WriteLine($"behind the calibration, {call} ({stride} values a row): loss {result.Loss:F5}, worst relative gradient error {worst:G3}");
            Assert.True(worst < 1e-3, $"the step on {call} differs from PyTorch's gradient by up to {worst:P3} (relative)");
        }
    }
}
