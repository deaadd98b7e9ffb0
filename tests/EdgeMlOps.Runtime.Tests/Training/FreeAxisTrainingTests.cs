using System.Text.Json;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A classifier exported with a free axis besides the batch (<c>export_digit_frames.py</c>: a scan read as frames of 8
/// intensities, <c>dynamic_axes={"rows": {1: "frames"}}</c>, a 1-D convolution and the mean over the frames): refused
/// as the fleet's model until the free axis is pinned at the length the fleet serves and trains
/// (<c>ModelInterface:AxisLengths=frames=8</c>); then read, served, scored and trained as PyTorch computes it at that
/// length, while the file itself — served byte for byte — still takes frames of any length.
/// </summary>
public class FreeAxisTrainingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("digit_frames_expected.json"))).RootElement;

    private static readonly byte[] Frames = File.ReadAllBytes(Fixture("pytorch_digit_frames.onnx"));

    private static float[] Floats(string name) => [.. Expected.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];

    private static readonly UploadedClassifierOptions Pinned = new("all") { AxisLengths = AxisLengths.Parse("frames=8") };

    [Fact]
    public void AFreeAxisPinned_IsServedAndTrainedAtThatLength_AsPyTorchComputesIt_TheFileUnchanged()
    {
        var refused = Assert.Throws<InvalidDataException>(() => UploadedClassifier.Open(Frames, new UploadedClassifierOptions("all")));
        Assert.Contains("input 'rows' is float [batch, frames, 8]; every axis after the batch must be fixed — pin the free one at the length the fleet serves and trains: ModelInterface:AxisLengths=frames=N", refused.Message, StringComparison.Ordinal);

        var model = UploadedClassifier.Open(Frames, Pinned);
        var spec = model.Spec;
        Assert.Equal((64, 10), (spec.InputDim, spec.Classes));
        Assert.Equal([8L, 8L], spec.Graph!.SampleDims);
        Assert.Equal([("frames", 8L)], spec.Graph.AxisLengths);
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole
        Assert.Equal(ContentHash.Sha256Hex(Frames), ContentHash.Sha256Hex(model.InferenceBytes(model.InitialWeights()))); // version 1: the file itself

        // Served at 8 frames as PyTorch computes it.
        using var served = InferenceModel.Load(Frames, spec);
        var batch = served.Predict(Floats("rows"), 6);
        var logits = Floats("logits");
        for (var row = 0; row < 6; row++)
        {
            Assert.Equal(logits.Skip(row * 10).Take(10).Select((v, i) => (v, i)).Max().i, (int)batch.Labels[row]);
        }

        // The file runs at 6 frames as PyTorch computes them: its axis is free, nothing rewritten.
        using (var session = new InferenceSession(Frames))
        {
            using var input = OrtValue.CreateTensorValueFromMemory(Floats("short"), [6, 6, 8]);
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, ["rows"], [input], ["logits"]);
            var worst = Floats("shortLogits").Zip(outputs[0].GetTensorDataAsSpan<float>().ToArray()).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(worst < 1e-4, $"6 frames differ from PyTorch's by {worst}");
        }

        // A later version is the same graph with new values, its axis still declared free.
        var version2 = ClassifierGraphs.Parse(model.InferenceBytes(new ModelWeights(spec, [.. model.InitialWeights().Values.Select(v => v * 0.5f)])));
        Assert.Equal("frames", version2.Graph.Input.Single(i => i.Name == "rows").Type.TensorType.Shape.Dim[1].DimParam);

        // Trained at 8 frames: one SGD step follows PyTorch's gradient of the cross-entropy, every tensor.
        using var trainer = new TrainStepModel(model.TrainStep!, spec);
        var initial = model.InitialWeights();
        const float Lr = 0.5f;
        var result = trainer.Train(initial.Values, Floats("rows"), [.. Expected.GetProperty("digits").EnumerateArray().Select(d => d.GetInt64())], new LocalTrainingPlan(1, 6, Lr, 1));
        Assert.Equal(Expected.GetProperty("loss").GetDouble(), result.Loss, 3);
        var worstGradient = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, Expected);
        output.WriteLine($"one step at 8 frames: loss {result.Loss:F5} (PyTorch {Expected.GetProperty("loss").GetDouble():F5}), worst relative gradient error {worstGradient:G3}");
        Assert.True(worstGradient < 1e-3, $"the step differs from PyTorch's gradient by up to {worstGradient:P3} (relative)");
    }

    [Fact]
    public void PinsThatDoNotFit_AreRefusedNamingTheAxis()
    {
        static string Refused(string pins) => Assert.Throws<InvalidDataException>(() => UploadedClassifier.Open(Frames, new UploadedClassifierOptions("all") { AxisLengths = AxisLengths.Parse(pins) })).Message;
        Assert.Contains("no input has an axis named 'steps' (the free axes besides the batch: frames)", Refused("steps=8"), StringComparison.Ordinal);
        Assert.Contains("'batch' is the batch axis, which stays free", Refused("batch=1"), StringComparison.Ordinal);
        Assert.Contains("is not AXIS=LENGTH or AXIS=SHORTEST..LONGEST with lengths from 1 to 65536", Assert.Throws<ArgumentException>(() => AxisLengths.Parse("frames=0")).Message, StringComparison.Ordinal);
        Assert.Contains("an axis is pinned twice", Assert.Throws<ArgumentException>(() => AxisLengths.Parse("frames=8,frames=9")).Message, StringComparison.Ordinal);

        // Pinned at another length it is another interface (a fleet at 8 frames does not take a version read at 6).
        var (eight, six) = (UploadedClassifier.Open(Frames, Pinned).Spec, UploadedClassifier.Open(Frames, new UploadedClassifierOptions("all") { AxisLengths = AxisLengths.Parse("frames=6") }).Spec);
        Assert.Equal(48, six.InputDim);
        Assert.NotEqual(eight.ToString(), six.ToString());

        var signed = ModelArchitectures.From(eight, []);
        signed.Graph.AxisLengths[0].Length = 0;
        Assert.Contains("pinned axes", Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(signed)).Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Control flow a free axis decides (<c>export_scripted_rows.py</c>: torch.jit.script, a Loop over the rows whose trip
    /// count is Shape(pixels)[1] and an If on rows &gt; 4, 'rows' a dynamic axis): unknown until the axis is pinned, then
    /// unrolled for the train step at that length — one SGD step as PyTorch's — while the served file still decides at
    /// run time (3 rows take the If's other branch, as in PyTorch).
    /// </summary>
    [Fact]
    public void ALoopAndABranchAFreeAxisDecides_TrainOnceTheAxisIsPinned_AndTheFileStillDecidesAtRunTime()
    {
        var expected = JsonDocument.Parse(File.ReadAllText(Fixture("scripted_rows_expected.json"))).RootElement;
        float[] Values(string name) => [.. expected.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        var bytes = File.ReadAllBytes(Fixture("pytorch_scripted_rows.onnx"));
        var unpinned = Assert.Throws<InvalidDataException>(() => UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all")));
        Assert.Contains("ModelInterface:AxisLengths=rows=N", unpinned.Message, StringComparison.Ordinal);

        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { AxisLengths = AxisLengths.Parse("rows=8") });
        Assert.Equal(ContentHash.Sha256Hex(bytes), ContentHash.Sha256Hex(model.InferenceBytes(model.InitialWeights()))); // served as uploaded, Loop and If kept
        Assert.Equal(["cell.bias", "cell.weight", "head.bias", "head.weight", "recur.bias", "recur.weight", "wide.bias", "wide.weight"], model.InitialWeights().Layout.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal)); // the taken branch's layer trains
        using var served = InferenceModel.Load(bytes, model.Spec);
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        PyTorchBatch.AssertServedAndStepped(model, served, trainer, expected, "scripted rows pinned at 8");

        // The file itself, at 3 rows: three trips and the If's else branch, as PyTorch computes them.
        using var session = new InferenceSession(bytes);
        using var input = OrtValue.CreateTensorValueFromMemory(Values("short"), [6, 3, 8]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["pixels"], [input], ["logits"]);
        var differs = Values("shortLogits").Zip(outputs[0].GetTensorDataAsSpan<float>().ToArray()).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(differs < 1e-4, $"3 rows differ from PyTorch's by {differs}");
    }
}
