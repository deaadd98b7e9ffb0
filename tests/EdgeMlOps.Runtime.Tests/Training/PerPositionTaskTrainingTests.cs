using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A per-position task beside a classifier task: PyTorch's digit-and-segments model (<c>export_digit_segment_task.py</c>:
/// one convolutional trunk, the digit's logits [batch, 10] and 11 classes at every pixel [batch, 11, 8, 8]) declared a
/// multi-task model — the digit a classifier task, the segments a per-position task at half weight —, served, scored and
/// trained as PyTorch's autograd computes cross-entropy(digit) + 0.5 × per-pixel cross-entropy(segments).
/// </summary>
public class PerPositionTaskTrainingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("digit_segment_task_expected.json"))).RootElement;

    private static readonly byte[] Bytes = File.ReadAllBytes(Fixture("pytorch_digit_segment_task.onnx"));

    private static float[] Floats(string name) => [.. Expected.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];

    private const int Rows = 6;

    /// <summary>Each scan's ground truth as a device keeps it: its digit, then the class of every pixel row-major.</summary>
    private static float[] Targets()
    {
        var (digits, segments) = (Floats("digits"), Floats("segments"));
        return [.. digits.SelectMany((d, i) => segments.Skip(i * 64).Take(64).Prepend(d))];
    }

    /// <summary>The class PyTorch's logits pick at every pixel of every row ([rows, 11, 8, 8]: the classes 64 apart).</summary>
    private static int[] TorchSegments()
    {
        var logits = Floats("segmentLogits");
        return [.. Enumerable.Range(0, Rows * 64).Select(i => Enumerable.Range(0, 11).MaxBy(c => logits[((i / 64) * 704) + (c * 64) + (i % 64)]))];
    }

    [Fact]
    public void APerPositionTask_IsServedScoredAndTrainedBesideTheClassifierTask_AsPyTorchComputesThem()
    {
        var model = UploadedClassifier.Open(Bytes, new UploadedClassifierOptions("all") { Tasks = ModelTask.Parse("digit:classes,segments:positions:0.5") });
        var spec = model.Spec;
        Assert.Equal((64, 65), (spec.InputDim, spec.Targets));
        var segments = spec.Graph!.Tasks[1];
        Assert.Equal((ModelTaskKind.Positions, 11, 64, true), (segments.Kind, segments.Classes, segments.Width, segments.Logits));
        Assert.Equal([8L, 8L], segments.Dims); // declared [batch, Addsegments_dim_1, …] by the exporter: read from the graph
        Assert.Equal("segments:positions:0.5", segments.Declaration);
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole

        // Served: the digit PyTorch's logits pick, then the class PyTorch's logits pick at every pixel.
        var pixels = Floats("pixels");
        using var served = InferenceModel.Load(Bytes, spec);
        var values = served.PredictValues(pixels, Rows).Values;
        var (digitLogits, torchSegments, digits) = (Floats("digit"), TorchSegments(), Floats("digits"));
        for (var row = 0; row < Rows; row++)
        {
            Assert.Equal(digitLogits.Skip(row * 10).Take(10).Select((v, i) => (v, i)).Max().i, (int)values[row * 65]);
            Assert.Equal(torchSegments.Skip(row * 64).Take(64), values.Skip((row * 65) + 1).Take(64).Select(v => (int)v));
        }

        // Scored: the weighted loss as PyTorch's, the digit's accuracy as the model's, the share of pixels right as the segments' score.
        var score = served.EvaluateTargets(pixels, Targets());
        Assert.Equal(Expected.GetProperty("loss").GetDouble(), score.Loss, 3);
        var digitsRight = digits.Select((d, row) => digitLogits.Skip(row * 10).Take(10).Select((v, i) => (v, i)).Max().i == (int)d).Count(r => r);
        Assert.Equal((double)digitsRight / Rows, score.Accuracy, 6);
        var pixelsRight = Floats("segments").Zip(torchSegments).Count(p => (int)p.First == p.Second);
        Assert.Equal((double)pixelsRight / (Rows * 64), score.Tasks![1].Score!.Value, 6);

        var bad = Targets();
        bad[65 + 1 + 10] = 11; // the second scan's eleventh pixel: 11 classes, ids 0 to 10
        Assert.Contains("row 1: target[11] is 11: task 'segments' takes a class id per position (0 to 10)", Assert.Throws<ArgumentException>(() => served.EvaluateTargets(pixels, bad)).Message, StringComparison.Ordinal);

        // Trained: one SGD step moves every parameter — the shared trunk by both heads' gradients — as PyTorch's gradient.
        using var trainer = new TrainStepModel(model.TrainStep!, spec);
        var initial = model.InitialWeights();
        const float Lr = 0.5f;
        var result = trainer.TrainTargets(initial.Values, pixels, Targets(), new LocalTrainingPlan(1, Rows, Lr, 1));
        Assert.Equal(Expected.GetProperty("loss").GetDouble(), result.Loss, 3);
        Assert.Equal((double)digitsRight / Rows, result.Accuracy, 6); // the step counts the primary (digit) task's hits
        var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, Expected);
        output.WriteLine($"digit and segments: loss {result.Loss:F5} (PyTorch {Expected.GetProperty("loss").GetDouble():F5}); worst relative gradient error {worst:G3}");
        Assert.True(worst < 1e-3, $"the step differs from PyTorch's gradient by up to {worst:P3} (relative)");
    }

    [Fact]
    public void WithThePerPositionTaskFirst_ItsPixelsRightAreTheModelsAccuracy_AndARowsErrorIsTheShareWrong()
    {
        var model = UploadedClassifier.Open(Bytes, new UploadedClassifierOptions("all") { Tasks = ModelTask.Parse("segments:positions,digit:classes") });
        var spec = model.Spec;
        Assert.Equal("position accuracy of 'segments'", spec.AccuracyName);
        using var trainer = new TrainStepModel(model.TrainStep!, spec);
        float[] targets = [.. Floats("digits").SelectMany((d, i) => Floats("segments").Skip(i * 64).Take(64).Append(d))];
        var result = trainer.TrainTargets(model.InitialWeights().Values, Floats("pixels"), targets, new LocalTrainingPlan(1, Rows, 0.01f, 1));
        var pixelsRight = Floats("segments").Zip(TorchSegments()).Count(p => (int)p.First == p.Second);
        Assert.Equal((double)pixelsRight / (Rows * 64), result.Accuracy, 6); // positions right over every position, not rows

        // A row's error: 16 of 64 pixels wrong (a quarter) at weight 1, its digit right at weight 1 → 0.125.
        float[] truth = [.. Enumerable.Repeat(1f, 64), 3f];
        float[] answer = [.. Enumerable.Repeat(1f, 48), .. Enumerable.Repeat(0f, 16), 3f];
        Assert.Equal(0.125, spec.RowError(answer, truth), 9);
    }

    [Fact]
    public void AnOutputWithoutPositions_IsRefusedAsAPerPositionTask()
    {
        var refused = Assert.Throws<InvalidDataException>(() => UploadedClassifier.Open(Bytes, new UploadedClassifierOptions("all") { Tasks = ModelTask.Parse("segments:positions,digit:positions") }));
        Assert.Contains("task 'digit': output 'digit' is float [batch, 10]; a per-position classifier's scores must be float [batch, classes, positions…]", refused.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A tagger's task — classes last (<c>export_digit_tagger_task.py</c>: the digit [batch, 10] and 11 classes for every
    /// row [batch, 8, 11], as nn.Linear writes them) declared <c>tags</c>: read, answered, scored and trained with the
    /// classes on the last axis, as PyTorch computes cross-entropy(digit) + 0.5 × per-row cross-entropy(tags).
    /// </summary>
    [Fact]
    public void ATaggersTask_WithItsClassesLast_IsServedScoredAndTrained_AsPyTorchComputesIt()
    {
        var expected = JsonDocument.Parse(File.ReadAllText(Fixture("digit_tagger_task_expected.json"))).RootElement;
        float[] Values(string name) => [.. expected.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_tagger_task.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Tasks = ModelTask.Parse("digit:classes,tags:tags:0.5") });
        var spec = model.Spec;
        var tags = spec.Graph!.Tasks[1];
        Assert.Equal((ModelTaskKind.Tags, 11, 8, true), (tags.Kind, tags.Classes, tags.Width, tags.ClassAxisLast));
        Assert.Equal([8L, 11L], tags.ScoresDims);
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole, classes last included
        Assert.NotEqual(spec, UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Tasks = ModelTask.Parse("digit:classes,tags:tags") }).Spec);
        var axisOne = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Tasks = ModelTask.Parse("digit:classes,tags:positions") }).Spec.Graph!.Tasks[1];
        Assert.Equal((8, 11), (axisOne.Classes, axisOne.Width)); // read with its classes on axis 1 it is another model: the declaration decides

        var (rows, logits, truth, digits) = (Values("rows"), Values("tagLogits"), Values("tags"), Values("digits"));
        using var served = InferenceModel.Load(bytes, spec);
        var values = served.PredictValues(rows, Rows).Values;
        for (var row = 0; row < Rows; row++)
        {
            var torch = Enumerable.Range(0, 8).Select(j => Enumerable.Range(0, 11).MaxBy(c => logits[(row * 88) + (j * 11) + c]));
            Assert.Equal(torch, values.Skip((row * 9) + 1).Take(8).Select(v => (int)v));
        }

        float[] targets = [.. digits.SelectMany((d, i) => truth.Skip(i * 8).Take(8).Prepend(d))];
        Assert.Equal(expected.GetProperty("loss").GetDouble(), served.EvaluateTargets(rows, targets).Loss, 3);

        using var trainer = new TrainStepModel(model.TrainStep!, spec);
        var initial = model.InitialWeights();
        const float Lr = 0.5f;
        var result = trainer.TrainTargets(initial.Values, rows, targets, new LocalTrainingPlan(1, Rows, Lr, 1));
        Assert.Equal(expected.GetProperty("loss").GetDouble(), result.Loss, 3);
        var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, expected);
        output.WriteLine($"digit and row tags: loss {result.Loss:F5} (PyTorch {expected.GetProperty("loss").GetDouble():F5}); worst relative gradient error {worst:G3}");
        Assert.True(worst < 1e-3, $"the step differs from PyTorch's gradient by up to {worst:P3} (relative)");
    }
}
