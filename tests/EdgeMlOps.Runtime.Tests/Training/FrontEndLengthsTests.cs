using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Google.Protobuf;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// Samples of several lengths behind a front end (<c>export_frames_frontends.py</c>): raw 12-bit scans of 6 to 8
/// frames through PyTorch's calibration, which keeps the length (the model behind it, PyTorch's frame classifier, sees
/// as many frames), or through PyTorch's resampler, which makes 8 frames of every length (the model sees one shape).
/// Served and stepped as PyTorch computes them at both lengths; what monitoring sketches is as wide at every length.
/// </summary>
public class FrontEndLengthsTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("frames_frontends_expected.json"))).RootElement;

    private static readonly byte[] Frames = File.ReadAllBytes(Fixture("pytorch_digit_frames.onnx"));

    private static float[] Floats(JsonElement e, string name) => [.. e.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];

    private static long[] Digits => [.. Expected.GetProperty("digits").EnumerateArray().Select(d => d.GetInt64())];

    public static UploadedClassifier Open(string front, string pins) =>
        UploadedClassifier.Open(Frames, new UploadedClassifierOptions("all") { Preprocess = File.ReadAllBytes(Fixture(front)), AxisLengths = AxisLengths.Parse(pins), Varying = AxisLengths.Range(pins) });

    [Theory]
    [InlineData("pytorch_frames_calibration.onnx", "frames=6..8", "calibration")]
    [InlineData("pytorch_frames_resample.onnx", "readings=6..8,frames=8", "resample")]
    public void RawScansOfSixToEightFrames_AreServedAndStepped_AsPyTorchComputesThemThroughTheFrontEnd(string front, string pins, string key)
    {
        var model = Open(front, pins);
        var spec = model.Spec;
        var graph = spec.Graph!;
        var keeps = key == "calibration";
        Assert.Equal(64, spec.InputDim); // the longest raw scan
        Assert.Equal(keeps ? "frames=6..8" : "readings=6..8", graph.Varying!.Text);
        Assert.Equal(keeps ? "frames@0=6..8" : null, graph.FeatureLengths?.CanonicalText); // the features keep the length, or have one shape
        Assert.Equal(keeps ? 8 : 64, spec.MonitoredWidth); // a frame's mean whatever the length, or the 8 resampled frames
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole
        Assert.True(spec.TakesSampleOf(48) && spec.TakesSampleOf(56) && spec.TakesSampleOf(64) && !spec.TakesSampleOf(40));

        using var served = InferenceModel.Load(Frames, spec, preprocess: File.ReadAllBytes(Fixture(front)));
        using var trainer = new TrainStepModel(model.TrainStep!, spec, preprocess: File.ReadAllBytes(Fixture(front)));
        var initial = model.InitialWeights();
        const float Lr = 0.5f;
        foreach (var (scans, suffix) in new[] { ("scans", string.Empty), ("short", "Short") })
        {
            var expected = Expected.GetProperty(key + suffix);
            var features = Floats(Expected, scans);
            var batch = served.Predict(features, 6);
            var logits = Floats(expected, "logits");
            PyTorchLogits.AssertSoftmax([.. logits.Select(v => (double)v)], batch.Probabilities, classes: 10); // within 1e-5

            Assert.Equal(6 * spec.MonitoredWidth, batch.Features!.Length); // what monitoring sketches: as wide at 6 frames as at 8

            var result = trainer.TrainLengths(initial.Values, features, [.. Enumerable.Repeat(features.Length / 6, 6)], Digits, new LocalTrainingPlan(1, 6, Lr, 1));
            Assert.Equal(expected.GetProperty("loss").GetDouble(), result.Loss, 3);
            var worstGradient = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, expected, "gradients");
            output.WriteLine($"{key}{suffix}: loss {result.Loss:F5} (PyTorch {expected.GetProperty("loss").GetDouble():F5}), worst relative gradient error {worstGradient:G3}");
            Assert.True(worstGradient < 1e-3, $"{key}{suffix}: the step differs from PyTorch's gradient by up to {worstGradient:P3} (relative)");
            Assert.True(batch.Features.Zip(result.FrontFeatures!).All(p => Math.Abs(p.First - p.Second) < 1e-6) && batch.Features.Length == result.FrontFeatures!.Length,
                "the training profile sketches what serving sketches"); // the same front end, each length's samples together
        }
    }

    /// <summary>
    /// PyTorch's framing front end: raw signals of 48 to 64 samples cut into frames of 8 (what is left over dropped), so
    /// the model sees 6 to 8 frames — a count found by reading the front end's shapes at both ends, not declared by it.
    /// A signal of 64 samples and one of 53 (6 frames, 5 samples dropped) are served and stepped as PyTorch computes them.
    /// </summary>
    [Fact]
    public void SignalsOfFortyEightToSixtyFourSamples_AreFramedAsPyTorchFramesThem_AndTheModelTrainsOnSixToEightFrames()
    {
        var model = Open("pytorch_frames_framing.onnx", "samples=48..64,frames=8");
        var spec = model.Spec;
        var graph = spec.Graph!;
        Assert.Equal("samples=48..64", graph.Varying!.Text);
        Assert.Equal("frames@0=6..8", graph.FeatureLengths!.CanonicalText); // the model's axis, the range the front end makes
        Assert.Equal(8, spec.MonitoredWidth);
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole
        Assert.True(spec.TakesSampleOf(48) && spec.TakesSampleOf(53) && spec.TakesSampleOf(64) && !spec.TakesSampleOf(47) && !spec.TakesSampleOf(65));

        var front = File.ReadAllBytes(Fixture("pytorch_frames_framing.onnx"));
        using var served = InferenceModel.Load(Frames, spec, preprocess: front);
        using var trainer = new TrainStepModel(model.TrainStep!, spec, preprocess: front);
        var initial = model.InitialWeights();
        const float Lr = 0.5f;
        foreach (var (signals, key, width) in new[] { ("signals", "framing", 64), ("shortSignals", "framingShort", 53) })
        {
            var expected = Expected.GetProperty(key);
            var features = Floats(Expected, signals);
            var batch = served.Predict(features, 6);
            var logits = Floats(expected, "logits");
            PyTorchLogits.AssertSoftmax([.. logits.Select(v => (double)v)], batch.Probabilities, classes: 10); // within 1e-5

            Assert.Equal(6 * 8, batch.Features!.Length); // a frame's mean per signal, whatever its length
            var result = trainer.TrainLengths(initial.Values, features, [.. Enumerable.Repeat(width, 6)], Digits, new LocalTrainingPlan(1, 6, Lr, 1));
            Assert.Equal(expected.GetProperty("loss").GetDouble(), result.Loss, 3);
            var worstGradient = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, expected, "gradients");
            output.WriteLine($"{key} ({expected.GetProperty("frames").GetInt32()} frames): loss {result.Loss:F5} (PyTorch {expected.GetProperty("loss").GetDouble():F5}), worst relative gradient error {worstGradient:G3}");
            Assert.True(worstGradient < 1e-3, $"{key}: the step differs from PyTorch's gradient by up to {worstGradient:P3} (relative)");
        }

        // The model's axis pinned at another count than the front end makes of the longest signals: refused, saying which.
        var pinned = Assert.Throws<InvalidDataException>(() => Open("pytorch_frames_framing.onnx", "samples=48..64,frames=7"));
        Assert.Contains("the preprocessing graph makes 6 to 8 'frames' of 48 to 64 'samples': pin the model's 'frames' at the longest's, ModelInterface:AxisLengths=samples=48..64,frames=8", pinned.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A signed architecture whose feature range does not fit is refused by the device's reading of the manifest, not
    /// run: a feature axis past the feature dims, a shortest not below the longest, a feature range with no front end.
    /// </summary>
    [Fact]
    public void AManifestsFeatureRangeThatDoesNotFit_IsRefused()
    {
        var good = ModelArchitectures.From(Open("pytorch_frames_framing.onnx", "samples=48..64,frames=8").Spec, []);
        Assert.Equal((0u, "frames", 6L), (good.Graph.SampleLengths.FeatureAxis, good.Graph.SampleLengths.FeatureName, good.Graph.SampleLengths.FeatureShortest));
        Assert.Equal(0L, ModelArchitectures.From(Open("pytorch_frames_calibration.onnx", "frames=6..8").Spec, []).Graph.SampleLengths.FeatureShortest); // the samples' own axis: not repeated

        EdgeMlOps.Shared.Protocol.V1.ModelArchitecture Tampered(Action<EdgeMlOps.Shared.Protocol.V1.ModelArchitecture> change)
        {
            var copy = good.Clone();
            change(copy);
            return copy;
        }

        Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(Tampered(a => a.Graph.SampleLengths.FeatureAxis = 2)));
        Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(Tampered(a => a.Graph.SampleLengths.FeatureShortest = 8)));
        Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(Tampered(a =>
        {
            a.Graph.Preprocess = null; // the front end dropped, its feature dims and range left
            a.Graph.FeatureDims.Clear();
        })));
        var bare = ModelArchitectures.From(UploadedClassifier.Open(Frames, new UploadedClassifierOptions("all") { AxisLengths = [("frames", 8)], Varying = ("frames", 6) }).Spec, []);
        bare.Graph.SampleLengths.FeatureAxis = 0; // a feature range on a model without a front end
        Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(bare));
    }

    /// <summary>
    /// A model with a context input behind a front end (<c>export_frames_frontends.py</c>: PyTorch's calibration in front
    /// of the frame classifier with the scan's last row beside it): a row is the raw scan and then the context values,
    /// the scan through the front end and the context fed as it is — served and stepped as PyTorch computes them, at 8
    /// frames alone and over 6 to 8 frames; monitoring sketches what the front end made and then the context.
    /// </summary>
    [Theory]
    [InlineData("frames=8")]
    [InlineData("frames=6..8")]
    public void AContextInputBesideAFrontEnd_IsFedAsItIs_AndTheStepIsPyTorchs(string pins)
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_frames_context.onnx"));
        var front = File.ReadAllBytes(Fixture("pytorch_frames_calibration.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Input = "rows", Preprocess = front, AxisLengths = AxisLengths.Parse(pins), Varying = AxisLengths.Range(pins) });
        var spec = model.Spec;
        var varies = pins.Contains("..", StringComparison.Ordinal);
        Assert.Equal(72, spec.InputDim); // 64 raw values, then 8 context values
        Assert.Equal(varies ? 16 : 72, spec.MonitoredWidth); // a frame's mean and the context, or every calibrated value and the context
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole

        var expected = Expected.GetProperty("context");
        var last = Floats(expected, "lastRow");
        using var served = InferenceModel.Load(bytes, spec, preprocess: front);
        using var trainer = new TrainStepModel(model.TrainStep!, spec, preprocess: front);
        var initial = model.InitialWeights();
        const float Lr = 0.5f;
        foreach (var (scansName, key, frames) in varies ? new[] { ("scans", "whole", 8), ("short", "short", 6) } : [("scans", "whole", 8)])
        {
            var scans = Floats(Expected, scansName);
            float[] rows = [.. Enumerable.Range(0, 6).SelectMany(r => scans.Skip(r * frames * 8).Take(frames * 8).Concat(last.Skip(r * 8).Take(8)))];
            var batch = served.Predict(rows, 6);
            var logits = Floats(expected.GetProperty(key), "logits");
            PyTorchLogits.AssertSoftmax([.. logits.Select(v => (double)v)], batch.Probabilities, classes: 10); // within 1e-5

            Assert.Equal(6 * spec.MonitoredWidth, batch.Features!.Length);
            Assert.Equal(last.Take(8), batch.Features.Skip(spec.MonitoredWidth - 8).Take(8)); // the context as sent, after what the front end made
            var result = varies
                ? trainer.TrainLengths(initial.Values, rows, [.. Enumerable.Repeat(rows.Length / 6, 6)], Digits, new LocalTrainingPlan(1, 6, Lr, 1))
                : trainer.Train(initial.Values, rows, Digits, new LocalTrainingPlan(1, 6, Lr, 1));
            Assert.Equal(expected.GetProperty(key).GetProperty("loss").GetDouble(), result.Loss, 3);
            var worstGradient = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, expected.GetProperty(key), "gradients");
            output.WriteLine($"context {key} ({pins}): loss {result.Loss:F5}, worst relative gradient error {worstGradient:G3}");
            Assert.True(worstGradient < 1e-3, $"{key}: the step differs from PyTorch's gradient by up to {worstGradient:P3} (relative)");
            Assert.Equal(batch.Features, result.FrontFeatures!); // the training sketch is what serving sketches
        }
    }

    [Fact]
    public void MixedLengthsBehindTheCalibration_TrainInBatchesOfOneLength_AsTheLengthsAlone()
    {
        var front = File.ReadAllBytes(Fixture("pytorch_frames_calibration.onnx"));
        var model = Open("pytorch_frames_calibration.onnx", "frames=6..8");
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec, preprocess: front);
        var initial = model.InitialWeights().Values;
        var (eight, six) = (Floats(Expected, "scans"), Floats(Expected, "short"));
        var features = new List<float>();
        var lengths = new List<int>();
        var labels = new List<long>();
        for (var i = 0; i < 6; i++)
        {
            features.AddRange(six.Skip(i * 48).Take(48));
            features.AddRange(eight.Skip(i * 64).Take(64));
            (lengths, labels) = ([.. lengths, 48, 64], [.. labels, Digits[i], Digits[i]]);
        }

        var mixed = trainer.TrainLengths(initial, [.. features], [.. lengths], [.. labels], new LocalTrainingPlan(1, 6, 0.5f, 7));
        Assert.Equal(2, mixed.Steps);
        var plan = new LocalTrainingPlan(1, 6, 0.5f, 1);
        float[] Then(float[] from, float[] rows) => trainer.TrainLengths(from, rows, [.. Enumerable.Repeat(rows.Length / 6, 6)], Digits, plan).Weights;
        var closest = new[] { Then(Then(initial, eight), six), Then(Then(initial, six), eight) }
            .Min(order => order.Zip(mixed.Weights).Max(p => Math.Abs(p.First - p.Second)));
        Assert.True(closest < 1e-5, $"the mixed run is {closest} from either order of the two one-length steps");
        Assert.Equal(12 * 8, mixed.FrontFeatures!.Length); // each sample's frame mean, in the samples' order
        Assert.Contains("a sample of 40 values is none of", Assert.Throws<ArgumentException>(() => trainer.TrainLengths(initial, new float[40], [40], [1], plan)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FrontEndsThatDisagreeWithTheModelAboutTheLength_AreRefusedSayingSo()
    {
        // The resampler's own axis left free: callers' samples would have no length to pin.
        var unpinned = Assert.Throws<InvalidDataException>(() => Open("pytorch_frames_resample.onnx", "frames=6..8"));
        Assert.StartsWith("the preprocessing graph: input 'scan' is ", unpinned.Message, StringComparison.Ordinal);
        Assert.EndsWith("every axis after the batch must be fixed — pin the free one at the length the fleet serves and trains: ModelInterface:AxisLengths=readings=N", unpinned.Message, StringComparison.Ordinal);

        // The resampler with its axis named as the model's: the model would take 'frames' free, the front end makes one shape.
        var resampler = EdgeMlOps.Shared.Onnx.Proto.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Fixture("pytorch_frames_resample.onnx")));
        resampler.Graph.Input[0].Type.TensorType.Shape.Dim[1].DimParam = "frames";
        var oneShape = Assert.Throws<InvalidDataException>(() => UploadedClassifier.Open(Frames, new UploadedClassifierOptions("all") { Preprocess = resampler.ToByteArray(), AxisLengths = [("frames", 8)], Varying = ("frames", 6) }));
        Assert.Contains("the model's features input 'rows' takes 'frames' free at axis 1, but the preprocessing graph makes 'rows' float [batch, Transposerows_dim_1, Transposerows_dim_2]: a front end in front of it must keep that axis where the model takes it", oneShape.Message, StringComparison.Ordinal);

        // The calibration (it keeps 'frames') in front of the classifier exported at 8 frames: the model takes one shape.
        var fixedModel = EdgeMlOps.Shared.Onnx.Proto.ModelProto.Parser.ParseFrom(Frames);
        fixedModel.Graph.Input[0].Type.TensorType.Shape.Dim[1].DimValue = 8;
        var keeps = Assert.Throws<InvalidDataException>(() => UploadedClassifier.Open(fixedModel.ToByteArray(), new UploadedClassifierOptions("all") { Preprocess = File.ReadAllBytes(Fixture("pytorch_frames_calibration.onnx")), AxisLengths = [("frames", 8)], Varying = ("frames", 6) }));
        Assert.Contains("the preprocessing graph keeps the samples' 'frames' in 'rows' float [batch, frames, 8], but the model's features input 'rows' takes one shape [8, 8]: declare 'frames' free on the model too, or make the front end resample to one shape", keeps.Message, StringComparison.Ordinal);
    }
}
