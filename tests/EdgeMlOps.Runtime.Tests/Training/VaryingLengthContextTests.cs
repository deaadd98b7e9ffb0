using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// Samples of several lengths for a model with a context input (<c>export_digit_frames_context.py</c>: frames
/// [batch, frames, 8] over a 1-D convolution and its mean, and the scan's last row [batch, 8] beside them): every row
/// is a sample's frames at its own length, then its 8 context values. Served at 6 and 8 frames as PyTorch computes
/// them, one SGD step at each length as PyTorch's gradient, monitoring sketching each frame's mean and the context.
/// </summary>
public class VaryingLengthContextTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("digit_frames_context_expected.json"))).RootElement;

    private static readonly byte[] File_ = File.ReadAllBytes(Fixture("pytorch_digit_frames_context.onnx"));

    private static float[] Floats(JsonElement batch, string name) => [.. batch.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];

    /// <summary>A batch's rows as devices keep them: each sample's frames, then its context values.</summary>
    private static float[] Rows(JsonElement batch)
    {
        var (frames, context) = (Floats(batch, "rows"), Floats(batch, "context"));
        var width = frames.Length / 6;
        return [.. Enumerable.Range(0, 6).SelectMany(i => frames.Skip(i * width).Take(width).Concat(context.Skip(i * 8).Take(8)))];
    }

    private static UploadedClassifier Open(string pins) =>
        UploadedClassifier.Open(File_, new UploadedClassifierOptions("all") { Input = "rows", AxisLengths = AxisLengths.Parse(pins), Varying = AxisLengths.Range(pins) });

    [Fact]
    public void FramesOfSixToEight_WithTheirContext_AreServedAndTrainedAsPyTorchComputesThem()
    {
        var model = Open("frames=6..8");
        var spec = model.Spec;
        var varying = spec.Graph!.Varying!;
        Assert.Equal(8, varying.Trailing); // the context input's values after the frames
        Assert.Equal(72, spec.InputDim); // the longest row: 64 frame values and 8 context values
        Assert.Equal(16, spec.MonitoredWidth); // a frame's mean and the context, whatever the length
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole
        Assert.Equal(varying, ModelArchitectures.From(spec, []).Varying());
        Assert.True(spec.TakesSampleOf(56) && spec.TakesSampleOf(64) && spec.TakesSampleOf(72));
        Assert.False(spec.TakesSampleOf(48) || spec.TakesSampleOf(80) || spec.TakesSampleOf(60));
        Assert.Contains("6 to 8 'frames' (56 to 72 values in steps of 8, the last 8 the context inputs')", spec.SampleSizeText, StringComparison.Ordinal);

        using var served = InferenceModel.Load(File_, spec);
        using var trainer = new TrainStepModel(model.TrainStep!, spec);
        var initial = model.InitialWeights();
        var digits = Expected.GetProperty("whole").GetProperty("digits").EnumerateArray().Select(d => d.GetInt64()).ToArray();
        const float Lr = 0.5f;
        foreach (var name in new[] { "whole", "short" })
        {
            var batch = Expected.GetProperty(name);
            var rows = Rows(batch);
            var predicted = served.Predict(rows, 6);
            var logits = Floats(batch, "logits");
            for (var row = 0; row < 6; row++)
            {
                var scores = logits.Skip(row * 10).Take(10).ToArray();
                var softmax = scores.Select(v => Math.Exp(v - scores.Max())).ToArray();
                var worst = softmax.Select((e, c) => Math.Abs((e / softmax.Sum()) - predicted.Probabilities[(row * 10) + c])).Max();
                Assert.True(worst < 1e-5, $"{name} row {row}: probabilities differ from PyTorch's by {worst}");
            }

            var result = trainer.TrainLengths(initial.Values, rows, [.. Enumerable.Repeat(rows.Length / 6, 6)], digits, new LocalTrainingPlan(1, 6, Lr, 1));
            Assert.Equal(batch.GetProperty("loss").GetDouble(), result.Loss, 3);
            var gradientError = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, batch);
            output.WriteLine($"{name}: loss {result.Loss:F5} (PyTorch {batch.GetProperty("loss").GetDouble():F5}), worst relative gradient error {gradientError:G3}");
            Assert.True(gradientError < 1e-3, $"the step on {name} differs from PyTorch's gradient by up to {gradientError:P3} (relative)");
        }

        // A device's 6- and 8-frame rows train together, a batch of one length at a time.
        var (eight, six) = (Rows(Expected.GetProperty("whole")), Rows(Expected.GetProperty("short")));
        var mixed = trainer.TrainLengths(initial.Values, [.. eight, .. six], [.. Enumerable.Repeat(72, 6), .. Enumerable.Repeat(56, 6)], [.. digits, .. digits], new LocalTrainingPlan(1, 6, Lr, 3));
        Assert.Equal(2, mixed.Steps);
        Assert.Contains("Expected 1 x 6 to 8 'frames'", Assert.Throws<ArgumentException>(() => served.Predict(new float[48], 1)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheContextValues_AreKeptWhole_WhenASampleIsCutOrSketched()
    {
        var lengths = new SampleLengths("frames", 0, 2, [3, 2], trailing: 2); // frames of 2, then 2 context values
        Assert.Equal(2, lengths.LengthOf(6)); // 2 frames + context
        Assert.Equal(3, lengths.LengthOf(8));
        Assert.Null(lengths.LengthOf(4)); // a row with no room for its context
        Assert.Null(lengths.LengthOf(7));
        Assert.Equal([2f, 3f, 9f, 10f], lengths.Summary([1, 2, 3, 4, 9, 10])); // the frames' mean, then the context as it is
        Assert.Equal([1f, 2f, 3f, 4f, 9f, 10f], lengths.Cut([1, 2, 3, 4, 5, 6, 9, 10], 2)); // the first 2 frames, the context kept
        Assert.Equal(4, lengths.SummaryWidth);
        Assert.NotEqual(lengths, new SampleLengths("frames", 0, 2, [3, 2]));
        Assert.Contains("context inputs", Assert.Throws<ArgumentException>(() => new GraphInterface("x", [3, 2], "y", true, [], new string('a', 64)) { Varying = lengths }).Message, StringComparison.Ordinal);
    }
}
