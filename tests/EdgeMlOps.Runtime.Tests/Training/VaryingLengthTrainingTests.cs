using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// Samples of several lengths on one fleet (<c>ModelInterface:AxisLengths=frames=6..8</c>) with PyTorch's frame
/// classifier (<c>export_digit_frames.py</c>: rows [batch, frames, 8], a 1-D convolution over the frames and their
/// mean): served at 6 and at 8 frames as PyTorch computes them, one SGD step at each length as PyTorch's gradient at
/// that length, and a device's mixed samples trained in batches of one length.
/// </summary>
public class VaryingLengthTrainingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("digit_frames_expected.json"))).RootElement;

    private static readonly byte[] Frames = File.ReadAllBytes(Fixture("pytorch_digit_frames.onnx"));

    private static float[] Floats(string name) => [.. Expected.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];

    private static long[] Digits => [.. Expected.GetProperty("digits").EnumerateArray().Select(d => d.GetInt64())];

    private static UploadedClassifier Open(string pins) =>
        UploadedClassifier.Open(Frames, new UploadedClassifierOptions("all") { AxisLengths = AxisLengths.Parse(pins), Varying = AxisLengths.Range(pins) });

    [Fact]
    public void SamplesOfSixToEightFrames_AreServedAndTrainedAtTheirOwnLength_AsPyTorchComputesThem()
    {
        var model = Open("frames=6..8");
        var spec = model.Spec;
        Assert.Equal(64, spec.InputDim); // the longest
        Assert.Equal("frames=6..8", spec.Graph!.Varying!.Text);
        Assert.Equal(8, spec.MonitoredWidth); // a frame's mean, whatever the length
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole
        Assert.NotEqual(Open("frames=8").Spec.ToString(), spec.ToString()); // another interface than one length
        Assert.True(spec.TakesSampleOf(48) && spec.TakesSampleOf(56) && spec.TakesSampleOf(64));
        Assert.False(spec.TakesSampleOf(40) || spec.TakesSampleOf(60) || spec.TakesSampleOf(72));

        // Served at both lengths as PyTorch computes them.
        using var served = InferenceModel.Load(Frames, spec);
        foreach (var (rows, logits) in new[] { ("rows", "logits"), ("short", "shortLogits") })
        {
            var batch = served.Predict(Floats(rows), 6);
            var expected = Floats(logits);
            for (var row = 0; row < 6; row++)
            {
                var scores = expected.Skip(row * 10).Take(10).ToArray();
                var softmax = scores.Select(v => Math.Exp(v - scores.Max())).ToArray();
                var worst = softmax.Select((e, c) => Math.Abs((e / softmax.Sum()) - batch.Probabilities[(row * 10) + c])).Max();
                Assert.True(worst < 1e-5, $"{rows} row {row}: probabilities differ from PyTorch's by {worst}");
            }
        }

        Assert.Contains("Expected 1 x 6 to 8 'frames' (48 to 64 values in steps of 8) features, got 40 values", Assert.Throws<ArgumentException>(() => served.Predict(new float[40], 1)).Message, StringComparison.Ordinal);
        Assert.Equal(6, served.Evaluate(Floats("short"), Digits).Samples);

        // One SGD step at each length follows PyTorch's gradient at that length.
        using var trainer = new TrainStepModel(model.TrainStep!, spec);
        var initial = model.InitialWeights();
        const float Lr = 0.5f;
        foreach (var (rows, loss, gradients) in new[] { ("rows", "loss", "gradients"), ("short", "shortLoss", "shortGradients") })
        {
            var features = Floats(rows);
            var result = trainer.TrainLengths(initial.Values, features, [.. Enumerable.Repeat(features.Length / 6, 6)], Digits, new LocalTrainingPlan(1, 6, Lr, 1));
            Assert.Equal(Expected.GetProperty(loss).GetDouble(), result.Loss, 3);
            var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, Expected, gradients);
            output.WriteLine($"{rows}: loss {result.Loss:F5} (PyTorch {Expected.GetProperty(loss).GetDouble():F5}), worst relative gradient error {worst:G3}");
            Assert.True(worst < 1e-3, $"the step at {features.Length / 6 / 8} frames differs from PyTorch's gradient by up to {worst:P3} (relative)");
        }
    }

    [Fact]
    public void ADevicesMixedSamples_TrainInBatchesOfOneLength_TheStepsOfEachLengthInTurn()
    {
        var model = Open("frames=6..8");
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        var initial = model.InitialWeights().Values;
        var (eight, six) = (Floats("rows"), Floats("short"));
        var plan = new LocalTrainingPlan(1, 6, 0.5f, 7);

        // Six 8-frame and six 6-frame samples interleaved; batches of 6 can only be the two lengths' own.
        var features = new List<float>();
        var lengths = new List<int>();
        var labels = new List<long>();
        for (var i = 0; i < 6; i++)
        {
            features.AddRange(eight.Skip(i * 64).Take(64));
            features.AddRange(six.Skip(i * 48).Take(48));
            (lengths, labels) = ([.. lengths, 64, 48], [.. labels, Digits[i], Digits[i]]);
        }

        var mixed = trainer.TrainLengths(initial, [.. features], [.. lengths], [.. labels], plan);
        Assert.Equal(2, mixed.Steps);

        // The same two steps one after the other, in either order: the mixed run took one of them.
        var oneLength = new LocalTrainingPlan(1, 6, 0.5f, 1);
        float[] Then(float[] from, float[] rows) => trainer.TrainLengths(from, rows, [.. Enumerable.Repeat(rows.Length / 6, 6)], Digits, oneLength).Weights;
        var closest = new[] { Then(Then(initial, eight), six), Then(Then(initial, six), eight) }
            .Min(order => order.Zip(mixed.Weights).Max(p => Math.Abs(p.First - p.Second)));
        Assert.True(closest < 1e-5, $"the mixed run is {closest} from either order of the two one-length steps");

        // Lengths that do not add up or that the model does not take are refused before any step.
        Assert.Contains("add up to", Assert.Throws<ArgumentException>(() => trainer.TrainLengths(initial, [.. features], [.. lengths.Select(_ => 64)], [.. labels], plan)).Message, StringComparison.Ordinal);
        Assert.Contains("sample 0 holds 40 values", Assert.Throws<ArgumentException>(() => trainer.TrainLengths(initial, new float[40], [40], [1], plan)).Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The step generated with the axis left free is the step generated with it pinned, at each length: for the
    /// classifier (cross-entropy) and for the same file read as a regressor of its ten outputs (mean squared error, with
    /// momentum), one step at 6 frames and one at 8 land where the pinned steps do.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheFreeAxisStep_IsThePinnedStep_AtEachLength(bool regression)
    {
        UploadedClassifier Read(string pins) => UploadedClassifier.Open(Frames, new UploadedClassifierOptions("all")
        {
            AxisLengths = AxisLengths.Parse(pins), Varying = AxisLengths.Range(pins), Regression = regression,
            Optimizer = regression ? EdgeMlOps.Shared.Onnx.Training.DeviceOptimizer.Momentum : EdgeMlOps.Shared.Onnx.Training.DeviceOptimizer.Sgd,
        });
        var varying = Read("frames=6..8");
        using var free = new TrainStepModel(varying.TrainStep!, varying.Spec);
        var targets = Enumerable.Range(0, 60).Select(i => (float)(i % 7) / 7).ToArray();
        var plan = new LocalTrainingPlan(2, 3, 0.1f, 4);
        foreach (var (rows, frames) in new[] { ("rows", 8), ("short", 6) })
        {
            var pinned = Read($"frames={frames}");
            using var fixedStep = new TrainStepModel(pinned.TrainStep!, pinned.Spec);
            var features = Floats(rows);
            int[] lengths = [.. Enumerable.Repeat(frames * 8, 6)];
            var (a, b) = regression
                ? (free.TrainTargetLengths(varying.InitialWeights().Values, features, lengths, targets, plan), fixedStep.TrainTargets(pinned.InitialWeights().Values, features, targets, plan))
                : (free.TrainLengths(varying.InitialWeights().Values, features, lengths, Digits, plan), fixedStep.Train(pinned.InitialWeights().Values, features, Digits, plan));
            var worst = a.Weights.Zip(b.Weights).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(worst < 1e-5, $"{frames} frames: the free-axis step is {worst} from the pinned one");
            Assert.Equal(b.Loss, a.Loss, 5);
            Assert.Equal(4, a.Steps);
        }
    }

    [Fact]
    public void RangesThatDoNotFit_AreRefusedSayingWhy()
    {
        Assert.Contains("the shortest length must be below the longest", Assert.Throws<ArgumentException>(() => AxisLengths.Parse("frames=8..6")).Message, StringComparison.Ordinal);
        Assert.Contains("samples may vary in length along one axis only", Assert.Throws<ArgumentException>(() => AxisLengths.Parse("frames=6..8,tokens=2..4,width=2..3")).Message, StringComparison.Ordinal);
        Assert.Equal(("tokens", 2L), AxisLengths.MadeRange("frames=6..8,tokens=2..4")); // a second range: what a front end makes as the data decides
        var twoRanges = Assert.Throws<InvalidDataException>(() => UploadedClassifier.Open(Frames, new UploadedClassifierOptions("all") { AxisLengths = AxisLengths.Parse("frames=6..8,width=2..3"), Varying = ("frames", 6), Made = ("width", 2) }));
        Assert.Contains("'width=2..3' is what a front end makes as each sample's data decides; this model has none: samples vary in length along one axis only", twoRanges.Message, StringComparison.Ordinal);
        Assert.Equal([("frames", 8L), ("width", 3L)], AxisLengths.Parse("frames=6..8,width=3"));
        Assert.Equal(("frames", 6L), AxisLengths.Range("frames=6..8,width=3"));
        Assert.Null(AxisLengths.Range("frames=8"));

        // A range over an axis the features input does not declare free.
        var elsewhere = Assert.Throws<InvalidDataException>(() => UploadedClassifier.Open(Frames, new UploadedClassifierOptions("all") { AxisLengths = AxisLengths.Parse("frames=8"), Varying = ("batch", 1) }));
        Assert.Contains("samples vary along 'batch', which the features input 'rows' declares nowhere", elsewhere.Message, StringComparison.Ordinal);

        // An output that grows with the sample, or a model with more than the features input, takes one length.
        var growing = ClassifierGraphs.Parse(Frames);
        growing.Graph.Output[0].Type.TensorType.Shape.Dim[1].DimParam = "frames";
        var grows = Assert.Throws<InvalidDataException>(() => UploadedClassifier.Open(Google.Protobuf.MessageExtensions.ToByteArray(growing), new UploadedClassifierOptions("all") { AxisLengths = AxisLengths.Parse("frames=8"), Varying = ("frames", 6) }));
        Assert.Contains("samples vary along 'frames', and output 'logits' (float [batch, frames]) does too", grows.Message, StringComparison.Ordinal);

        // A Loop whose trip count is the length (export_scripted_rows.py) needs the length known: refused, naming the node.
        var scripted = File.ReadAllBytes(Fixture("pytorch_scripted_rows.onnx"));
        var loop = Assert.Throws<EdgeMlOps.Shared.Onnx.Training.NotDifferentiableException>(() => UploadedClassifier.Open(scripted, new UploadedClassifierOptions("all") { AxisLengths = AxisLengths.Parse("rows=6..8"), Varying = AxisLengths.Range("rows=6..8") }));
        Assert.Contains("cannot differentiate node '/Loop' (Loop): its trip count is not known where it starts (export with fixed extents; a count read off a free axis is known once that axis is pinned at one length, ModelInterface:AxisLengths)", loop.Message, StringComparison.Ordinal);
        Assert.NotNull(UploadedClassifier.Open(scripted, new UploadedClassifierOptions("all") { AxisLengths = AxisLengths.Parse("rows=8") }).TrainStep); // pinned at one length, it trains

        // A signed range that is not among the pins, or that runs past the pinned length, is no spec a device runs.
        var signed = ModelArchitectures.From(Open("frames=6..8").Spec, []);
        signed.Graph.SampleLengths.Shortest = 9;
        Assert.Contains("the shortest from 1 to below the longest", Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(signed)).Message, StringComparison.Ordinal);
        signed.Graph.SampleLengths.Shortest = 6;
        signed.Graph.SampleLengths.Name = "tokens";
        Assert.Contains("samples vary along 'tokens', which is not pinned at their longest, 8", Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(signed)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheMeanOverTheAxis_IsWhatMonitoringSketches_AtEveryLength()
    {
        var lengths = new SampleLengths("frames", 0, 2, [3, 2]);
        Assert.Equal([2f, 3f], lengths.Summary([1, 2, 3, 4])); // 2 frames of 2
        Assert.Equal([3f, 4f], lengths.Summary([1, 2, 3, 4, 5, 6])); // 3 frames
        var inner = new SampleLengths("steps", 1, 1, [2, 3]); // [channels 2, steps 1..3]
        Assert.Equal([2f, 5f], inner.Summary([1, 2, 3, 4, 5, 6]));
        Assert.Equal([7f, 9f], inner.Summary([7, 9]));
        Assert.Throws<ArgumentException>(() => lengths.Summary([1, 2, 3]));
    }
}
