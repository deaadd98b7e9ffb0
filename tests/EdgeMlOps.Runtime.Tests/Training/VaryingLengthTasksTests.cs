using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// Samples of several lengths for a multi-task model (<c>export_digit_frames_tasks.py</c>: frames [batch, frames, 8]
/// into a 1-D convolution and its mean, then the digit's logits and the scan's ink, its mean intensity): declared
/// <c>digit:classes,ink:regression</c> and <c>frames=6..8</c>, each sample's targets (its digit and ink) whatever its
/// length. Served, scored and stepped at 6 and 8 frames as PyTorch computes the summed loss at that length.
/// </summary>
public class VaryingLengthTasksTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("digit_frames_tasks_expected.json"))).RootElement;

    private static readonly byte[] Tasks = File.ReadAllBytes(Fixture("pytorch_digit_frames_tasks.onnx"));

    private static float[] Floats(JsonElement batch, string name) => [.. batch.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];

    /// <summary>Each sample's ground truth as a device keeps it: its digit, then its ink.</summary>
    private static float[] Targets(JsonElement batch) => [.. Floats(batch, "digits").Zip(Floats(batch, "ink")).SelectMany(p => new[] { p.First, p.Second })];

    /// <summary>
    /// The same two-task model behind PyTorch's calibration front end (<c>export_frames_frontends.py</c>): clips of 6 and
    /// 8 frames sent as raw 12-bit counts, which the front end undoes exactly, so both heads, the summed loss and the
    /// step are PyTorch's on the calibrated clips.
    /// </summary>
    [Fact]
    public void BehindACalibrationFrontEnd_RawClipsAreServedAndTrainedAtEachLength_AsPyTorchComputesThem()
    {
        var front = File.ReadAllBytes(Fixture("pytorch_frames_calibration.onnx"));
        var model = UploadedClassifier.Open(Tasks, new UploadedClassifierOptions("all")
        {
            Tasks = ModelTask.Parse("digit:classes,ink:regression"), AxisLengths = AxisLengths.Parse("frames=6..8"), Varying = AxisLengths.Range("frames=6..8"), Preprocess = front,
        });
        var spec = model.Spec;
        Assert.Equal((64, 2, 8), (spec.InputDim, spec.Targets, spec.MonitoredWidth)); // the longest raw clip; a digit and an ink; a calibrated frame's mean
        using var served = InferenceModel.Load(Tasks, spec, preprocess: front);
        using var trainer = new TrainStepModel(model.TrainStep!, spec, preprocess: front);
        var initial = model.InitialWeights();
        const float Lr = 0.5f;
        foreach (var name in new[] { "whole", "short" })
        {
            var batch = Expected.GetProperty(name);
            var raw = Floats(batch, "rows").Select((v, i) => SensorCounts.Of(v, i)).ToArray();
            var values = served.PredictValues(raw, 6).Values;
            var (logits, ink) = (Floats(batch, "digit"), Floats(batch, "measured"));
            for (var row = 0; row < 6; row++)
            {
                Assert.Equal(logits.Skip(row * 10).Take(10).Select((v, i) => (v, i)).Max().i, (int)values[row * 2]);
                Assert.Equal(ink[row], values[(row * 2) + 1], 1e-5);
            }

            var result = trainer.TrainTargetLengths(initial.Values, raw, [.. Enumerable.Repeat(raw.Length / 6, 6)], Targets(batch), new LocalTrainingPlan(1, 6, Lr, 1));
            Assert.Equal(batch.GetProperty("loss").GetDouble(), result.Loss, 4);
            var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, batch);
            output.WriteLine($"behind the calibration, {name}: loss {result.Loss:F5}, worst relative gradient error {worst:G3}");
            Assert.True(worst < 1e-3, $"the step on {name} differs from PyTorch's gradient by up to {worst:P3} (relative)");
        }
    }

    [Fact]
    public void ATwoTaskModel_IsServedScoredAndTrainedAtEachLength_AsPyTorchComputesTheSummedLoss()
    {
        var model = UploadedClassifier.Open(Tasks, new UploadedClassifierOptions("all")
        {
            Tasks = ModelTask.Parse("digit:classes,ink:regression"), AxisLengths = AxisLengths.Parse("frames=6..8"), Varying = AxisLengths.Range("frames=6..8"),
        });
        var spec = model.Spec;
        Assert.True(spec.IsMultiTask);
        Assert.Equal((64, 2), (spec.InputDim, spec.Targets)); // the longest sample; a digit and an ink each
        Assert.Equal("frames=6..8", spec.Graph!.Varying!.Text);
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole

        using var served = InferenceModel.Load(Tasks, spec);
        using var trainer = new TrainStepModel(model.TrainStep!, spec);
        var initial = model.InitialWeights();
        const float Lr = 0.5f;
        foreach (var name in new[] { "whole", "short" })
        {
            var batch = Expected.GetProperty(name);
            var rows = Floats(batch, "rows");
            var values = served.PredictValues(rows, 6).Values; // each row: the digit, then the ink
            var (logits, ink) = (Floats(batch, "digit"), Floats(batch, "measured"));
            for (var row = 0; row < 6; row++)
            {
                Assert.Equal(logits.Skip(row * 10).Take(10).Select((v, i) => (v, i)).Max().i, (int)values[row * 2]);
                Assert.Equal(ink[row], values[(row * 2) + 1], 1e-5);
            }

            Assert.Equal(batch.GetProperty("loss").GetDouble(), served.EvaluateTargets(rows, Targets(batch)).Loss, 4);
            var result = trainer.TrainTargetLengths(initial.Values, rows, [.. Enumerable.Repeat(rows.Length / 6, 6)], Targets(batch), new LocalTrainingPlan(1, 6, Lr, 1));
            Assert.Equal(batch.GetProperty("loss").GetDouble(), result.Loss, 4);
            var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, batch);
            output.WriteLine($"{name}: loss {result.Loss:F5} (PyTorch {batch.GetProperty("loss").GetDouble():F5}), worst relative gradient error {worst:G3}");
            Assert.True(worst < 1e-3, $"the step on {name} differs from PyTorch's gradient by up to {worst:P3} (relative)");
        }

        // Scored per length and pooled by count, each task too: the digit's accuracy and the ink's loss and R².
        var scores = new[] { "whole", "short" }.Select(n => served.EvaluateTargets(Floats(Expected.GetProperty(n), "rows"), Targets(Expected.GetProperty(n)))).ToArray();
        var pooled = EvaluationScore.Pooled(scores);
        Assert.Equal(12, pooled.Samples);
        Assert.Equal(["digit", "ink"], pooled.Tasks!.Select(t => t.Output));
        for (var k = 0; k < 2; k++)
        {
            Assert.Equal((scores[0].Tasks![k].Loss!.Value + scores[1].Tasks![k].Loss!.Value) / 2, pooled.Tasks![k].Loss!.Value, 9);
            Assert.Equal((scores[0].Tasks![k].Score!.Value + scores[1].Tasks![k].Score!.Value) / 2, pooled.Tasks![k].Score!.Value, 9);
        }

        // A device's 6- and 8-frame samples with their targets train together, a batch of one length at a time.
        var (eight, six) = (Expected.GetProperty("whole"), Expected.GetProperty("short"));
        var mixed = trainer.TrainTargetLengths(initial.Values, [.. Floats(eight, "rows"), .. Floats(six, "rows")], [.. Enumerable.Repeat(64, 6), .. Enumerable.Repeat(48, 6)],
            [.. Targets(eight), .. Targets(six)], new LocalTrainingPlan(1, 6, Lr, 5));
        Assert.Equal(2, mixed.Steps);
    }
}
