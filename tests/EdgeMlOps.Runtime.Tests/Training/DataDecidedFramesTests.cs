using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A front end whose frame count each sample's data decides (<c>export_trimming_frontend.py</c>): PyTorch's
/// voice-activity-style trimming drops a raw scan's quiet frames (NonZero and GatherND), so 6 to 8 readings make 1 to 8
/// frames, known only from the values — <c>ModelInterface:AxisLengths=readings=6..8,frames=1..8</c>. It takes one scan
/// at a time (exported with its batch fixed at 1), so devices run it scan by scan and train the model, PyTorch's frame
/// classifier, on batches of one frame count. Served and stepped as PyTorch computes them.
/// </summary>
public class DataDecidedFramesTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Pins = "readings=6..8,frames=1..8";

    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("trimming_frontend_expected.json"))).RootElement;

    private static readonly byte[] Frames = File.ReadAllBytes(Fixture("pytorch_digit_frames.onnx"));

    private static readonly byte[] Trimming = File.ReadAllBytes(Fixture("pytorch_frames_trimming.onnx"));

    private static float[] Floats(JsonElement e, string name) => [.. e.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];

    private static long[] Longs(JsonElement e, string name) => [.. e.GetProperty(name).EnumerateArray().Select(v => v.GetInt64())];

    public static UploadedClassifier Open(string pins) =>
        UploadedClassifier.Open(Frames, new UploadedClassifierOptions("all") { Preprocess = Trimming, AxisLengths = AxisLengths.Parse(pins), Varying = AxisLengths.Range(pins), Made = AxisLengths.MadeRange(pins) });

    [Fact]
    public void ScansWhoseQuietFramesTheFrontEndDrops_AreServedScanByScan_AsPyTorchComputesThem()
    {
        var spec = Open(Pins).Spec;
        var graph = spec.Graph!;
        Assert.Equal(64, spec.InputDim); // the longest raw scan
        Assert.Equal("readings=6..8", graph.Varying!.Text);
        Assert.Equal("frames@0=1..8", graph.FeatureLengths!.CanonicalText); // declared, not read off the shapes: the data decides
        Assert.True(graph.FeatureCountsByData);
        Assert.Equal("makes 1 to 8 'frames' of 6 to 8 'readings', as many as each sample's data decides", graph.FeatureLengthsText);
        Assert.Equal(8, spec.MonitoredWidth); // a kept frame's mean, whatever is kept
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole
        var keeps = ModelArchitectures.From(FrontEndLengthsTests.Open("pytorch_frames_calibration.onnx", "frames=6..8").Spec, []);
        keeps.Graph.SampleLengths.FeatureCountsByData = true; // a front end that keeps the samples' own length cannot also let the data decide
        Assert.Contains("features whose count the data decides are declared behind a front end that makes them along the model's own axis", Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(keeps)).Message, StringComparison.Ordinal);

        using var served = InferenceModel.Load(Frames, spec, preprocess: Trimming);
        foreach (var (scans, key) in new[] { ("scans", "whole"), ("short", "cut") })
        {
            var expected = Expected.GetProperty(key);
            var batch = served.Predict(Floats(Expected, scans), 6); // six scans in one request: trimmed one at a time
            PyTorchLogits.AssertSoftmax([.. Floats(expected, "logits").Select(v => (double)v)], batch.Probabilities, classes: 10); // within 1e-5
            Assert.Equal(6 * 8, batch.Features!.Length);
            output.WriteLine($"{key}: frames kept {string.Join(", ", Longs(expected, "kept"))}, served as PyTorch");
        }
    }

    [Fact]
    public void ScansThatKeepAsManyFrames_StepAsPyTorch_AndMixedCountsTrainInBatchesOfOneCount()
    {
        var model = Open(Pins);
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec, preprocess: Trimming);
        using var served = InferenceModel.Load(Frames, model.Spec, preprocess: Trimming);
        var initial = model.InitialWeights();
        const float Lr = 0.5f;
        var group = Expected.GetProperty("group");
        var result = trainer.TrainLengths(initial.Values, Floats(group, "scans"), [64, 64, 64, 64], Longs(group, "digits"), new LocalTrainingPlan(1, 4, Lr, 1));
        Assert.Equal(1, result.Steps); // four scans that keep 4 frames each: one batch
        Assert.Equal(group.GetProperty("loss").GetDouble(), result.Loss, 3);
        var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, group, "gradients");
        output.WriteLine($"group of 4 frames kept: loss {result.Loss:F5} (PyTorch {group.GetProperty("loss").GetDouble():F5}), worst relative gradient error {worst:G3}");
        Assert.True(worst < 1e-3, $"the step differs from PyTorch's gradient by up to {worst:P3} (relative)");

        // Six scans at 8 readings and the same cut to 6 keep 2, 3, 5 and 7 frames: a batch per count, and what training
        // sketches is what serving sketches.
        var (whole, cut) = (Floats(Expected, "scans"), Floats(Expected, "short"));
        float[] mixed = [.. whole, .. cut];
        int[] lengths = [.. Enumerable.Repeat(64, 6), .. Enumerable.Repeat(48, 6)];
        long[] digits = [.. Longs(Expected, "digits"), .. Longs(Expected, "digits")];
        var trained = trainer.TrainLengths(initial.Values, mixed, lengths, digits, new LocalTrainingPlan(1, 12, Lr, 1));
        var counts = Longs(Expected.GetProperty("whole"), "kept").Concat(Longs(Expected.GetProperty("cut"), "kept")).Distinct().Count();
        Assert.Equal(counts, trained.Steps);
        float[] sketched = [.. served.Predict(whole, 6).Features!, .. served.Predict(cut, 6).Features!];
        Assert.Equal(sketched, trained.FrontFeatures!);
    }

    /// <summary>
    /// Scans of one length (a fixed window, <c>readings=8,frames=1..8</c>: the one range is the model's, which the front
    /// end's input does not declare): the data alone decides the frames. Signed without a samples' range, served and
    /// stepped as PyTorch computes them, sketched as at several lengths.
    /// </summary>
    [Fact]
    public void ScansOfOneLength_WhoseFramesTheDataDecides_AreServedAndSteppedAsPyTorch()
    {
        var model = Open("readings=8,frames=1..8");
        var spec = model.Spec;
        var graph = spec.Graph!;
        Assert.Null(graph.Varying); // every scan sends 64 values
        Assert.Equal(("frames@0=1..8", true), (graph.FeatureLengths!.CanonicalText, graph.FeatureCountsByData));
        Assert.Equal("makes 1 to 8 'frames' of each sample, as many as its data decides", graph.FeatureLengthsText);
        Assert.Equal((64, 8), (spec.InputDim, spec.MonitoredWidth));
        Assert.True(spec.TakesSampleOf(64) && !spec.TakesSampleOf(48));
        var signed = ModelArchitectures.From(spec, []);
        Assert.Equal(("frames", 1L, false), (signed.Graph.MadeLengths.Name, signed.Graph.MadeLengths.Shortest, signed.Graph.SampleLengths is not null));
        Assert.Equal(spec, ModelArchitectures.ToSpec(signed)); // signed and read back whole
        var both = signed.Clone();
        both.Graph.SampleLengths = new EdgeMlOps.Shared.Protocol.V1.SampleLengthRange { Name = "readings", Axis = 0, Shortest = 6 }; // a samples' range carries its own
        Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(both));
        var bare = signed.Clone();
        bare.Graph.Preprocess = null; // no front end to decide anything
        bare.Graph.FeatureDims.Clear();
        Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(bare));

        using var served = InferenceModel.Load(Frames, spec, preprocess: Trimming);
        var batch = served.Predict(Floats(Expected, "scans"), 6);
        PyTorchLogits.AssertSoftmax([.. Floats(Expected.GetProperty("whole"), "logits").Select(v => (double)v)], batch.Probabilities, classes: 10);

        using var trainer = new TrainStepModel(model.TrainStep!, spec, preprocess: Trimming);
        var initial = model.InitialWeights();
        var group = Expected.GetProperty("group");
        var result = trainer.Train(initial.Values, Floats(group, "scans"), Longs(group, "digits"), new LocalTrainingPlan(1, 4, 0.5f, 1));
        Assert.Equal(group.GetProperty("loss").GetDouble(), result.Loss, 3);
        var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, 0.5f, group, "gradients");
        Assert.True(worst < 1e-3, $"the step differs from PyTorch's gradient by up to {worst:P3} (relative)");
        var six = trainer.Train(initial.Values, Floats(Expected, "scans"), Longs(Expected, "digits"), new LocalTrainingPlan(1, 6, 0.5f, 1));
        Assert.Equal(batch.Features, six.FrontFeatures); // what training sketches is what serving sketches
        Assert.Equal(3, six.Steps); // the six keep 3, 2, 3, 2, 7 and 2 frames: a batch per count
    }

    /// <summary>
    /// A model with targets (PyTorch's two-task frame model: a digit and the scan's ink) behind the trimming, declared
    /// <c>frames=3..8</c>: scoring leaves out the scans it refuses and scores the others as they would be alone.
    /// </summary>
    [Fact]
    public void ATwoTaskModelsScore_LeavesOutTheScansTheFrontEndRefuses()
    {
        var tasks = File.ReadAllBytes(Fixture("pytorch_digit_frames_tasks.onnx"));
        var model = UploadedClassifier.Open(tasks, new UploadedClassifierOptions("all")
        {
            Tasks = ModelTask.Parse("digit:classes,ink:regression"), Preprocess = Trimming, AxisLengths = AxisLengths.Parse("readings=6..8,frames=3..8"), Varying = ("readings", 6), Made = ("frames", 3),
        });
        using var served = InferenceModel.Load(tasks, model.Spec, preprocess: Trimming);
        var (scans, digits) = (Floats(Expected, "scans"), Longs(Expected, "digits"));
        float[] targets = [.. digits.SelectMany(d => new[] { d, 0.5f })];
        int[] kept = [0, 2, 4]; // the others keep 2 frames
        var score = served.EvaluateTargets(scans, targets);
        var alone = served.EvaluateTargets([.. kept.SelectMany(i => scans[(i * 64)..((i + 1) * 64)])], [.. kept.SelectMany(i => targets[(i * 2)..((i + 1) * 2)])]);
        Assert.Equal((3, alone.Loss, alone.Accuracy), (score.Samples, score.Loss, score.Accuracy));
    }

    [Fact]
    public void AScanOutsideTheRange_IsRefusedWhenServed_AndLeftOutOfTraining_AndAFrontEndForBatchesIsRefusedAtUpload()
    {
        var spec = Open("readings=6..8,frames=4..8").Spec; // the six scans keep 2 to 7 frames
        using var served = InferenceModel.Load(Frames, spec, preprocess: Trimming);
        var scans = Floats(Expected, "scans");
        var refused = Assert.Throws<SampleRefusedException>(() => served.Predict(scans, 6));
        Assert.StartsWith("the preprocessing graph made 24 values per sample; the interface declares 4 to 8 'frames'", refused.Message, StringComparison.Ordinal);
        Assert.StartsWith("the preprocessing graph made 16 values per sample; the interface declares 4 to 8 'frames'", served.RefusalOf(scans[64..128]), StringComparison.Ordinal); // what ground truth is told
        Assert.Null(served.RefusalOf(scans[256..320])); // 7 frames: taken

        // Training leaves the scans it refuses out — the others train as they would alone — and says which; none left: refused.
        var model = Open("readings=6..8,frames=3..8"); // the six scans keep 3, 2, 3, 2, 7 and 2 frames
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec, preprocess: Trimming);
        var digits = Longs(Expected, "digits");
        var plan = new LocalTrainingPlan(1, 6, 0.5f, 1);
        var some = trainer.TrainLengths(model.InitialWeights().Values, scans, [.. Enumerable.Repeat(64, 6)], digits, plan);
        Assert.Equal([1, 3, 5], some.LeftOut);
        int[] kept = [0, 2, 4];
        var alone = trainer.TrainLengths(model.InitialWeights().Values, [.. kept.SelectMany(i => scans[(i * 64)..((i + 1) * 64)])], [64, 64, 64], [.. kept.Select(i => digits[i])], plan);
        Assert.Equal(alone.Weights, some.Weights);
        Assert.Equal(3 * 8, some.FrontFeatures!.Length); // what training sketches: the three that trained
        using var scored = InferenceModel.Load(Frames, model.Spec, preprocess: Trimming); // scoring leaves them out too
        var score = scored.Evaluate(scans, digits);
        var keptScore = scored.Evaluate([.. kept.SelectMany(i => scans[(i * 64)..((i + 1) * 64)])], [.. kept.Select(i => digits[i])]);
        Assert.Equal((3, keptScore.Loss, keptScore.Accuracy), (score.Samples, score.Loss, score.Accuracy));
        float[] refusedOnly = [.. scans[64..128], .. scans[192..256], .. scans[320..384]];
        var none = Assert.Throws<SampleRefusedException>(() => trainer.TrainLengths(model.InitialWeights().Values, refusedOnly, [64, 64, 64], [digits[1], digits[3], digits[5]], plan));
        Assert.StartsWith("none of 3 samples: the preprocessing graph made 16 values per sample of 8 'readings'; the model's features input takes 3 to 8 'frames'", none.Message, StringComparison.Ordinal);

        // The calibration keeps the batch free: a count the data decided would be one for the whole batch.
        var batched = Assert.Throws<InvalidDataException>(() => UploadedClassifier.Open(Frames, new UploadedClassifierOptions("all")
        {
            Preprocess = File.ReadAllBytes(Fixture("pytorch_frames_resample.onnx")), AxisLengths = AxisLengths.Parse(Pins), Varying = ("readings", 6), Made = ("frames", 1),
        }));
        Assert.Contains("a front end whose 'frames' each sample's data decides takes one sample at a time: export it with its batch fixed at 1", batched.Message, StringComparison.Ordinal);

        // One range on the model's axis behind the resampler, meant as the samples' length: what to write instead is said.
        var meant = Assert.Throws<InvalidDataException>(() => UploadedClassifier.Open(Frames, new UploadedClassifierOptions("all")
        {
            Preprocess = File.ReadAllBytes(Fixture("pytorch_frames_resample.onnx")), AxisLengths = AxisLengths.Parse("readings=8,frames=6..8"), Varying = AxisLengths.Range("readings=8,frames=6..8"),
        }));
        Assert.Contains("if it is the samples callers send that vary, range the front end's own axis ('readings') first, as ModelInterface:AxisLengths=readings=SHORTEST..LONGEST,…", meant.Message, StringComparison.Ordinal);

        // The samples' range comes first: the front end's input declares no 'frames'.
        var front = Assert.Throws<InvalidDataException>(() => UploadedClassifier.Open(Frames, new UploadedClassifierOptions("all")
        {
            Preprocess = Trimming, AxisLengths = AxisLengths.Parse("frames=1..8,readings=6..8"), Varying = ("frames", 1), Made = ("readings", 6),
        }));
        Assert.Contains("samples vary along 'frames', which the features input 'scan' declares nowhere", front.Message, StringComparison.Ordinal);
    }
}
