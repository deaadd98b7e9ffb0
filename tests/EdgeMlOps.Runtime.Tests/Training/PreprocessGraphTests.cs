using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// Preprocessing declared as an ONNX graph of its own: PyTorch's log-mel front end (<c>export_mel_frontend.py</c>: raw
/// 8 kHz audio → 40 mel bins × 32 frames) in front of PyTorch's keyword-spotting 1-D CNN. Callers feed the wave; the
/// device runs both files as they are. Compared with PyTorch's features and with ONNX Runtime on the original CNN file.
/// </summary>
public class PreprocessGraphTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("mel_frontend_expected.json"))).RootElement;

    private static readonly byte[] Kws = File.ReadAllBytes(Fixture("pytorch_kws_1d.onnx"));

    private static readonly byte[] Front = File.ReadAllBytes(Fixture("pytorch_mel_frontend.onnx"));

    /// <summary>The script's waves: a sin(2π f1 n / 8000) + b sin(2π f2 n / 8000 + 0.3), computed in float64 and stored as float32.</summary>
    internal static float[] Waves()
    {
        var rows = Expected.GetProperty("waves").EnumerateArray().Select(w => w.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        return [.. rows.SelectMany(p => Enumerable.Range(0, 8192).Select(n => (float)((p[0] * Math.Sin(2 * Math.PI * p[1] * n / 8000.0)) + (p[2] * Math.Sin((2 * Math.PI * p[3] * n / 8000.0) + 0.3)))))];
    }

    internal static float[] TorchFeatures() => [.. Expected.GetProperty("features").EnumerateArray().SelectMany(row => row.EnumerateArray().Select(v => v.GetSingle()))];

    [Fact]
    public void TheFrontEndAlone_ComputesPyTorchsLogMelFeatures()
    {
        var front = UploadedClassifier.OpenTensors(Front, []);
        using var model = InferenceModel.Load(Front, front.Spec);
        var features = (float[])model.Run([new NamedTensor("wave", TensorElement.Float, [2, 8192], Waves())]).Single().Data;
        var torch = TorchFeatures();
        Assert.Equal(torch.Length, features.Length);
        Assert.True(torch.Zip(features).All(p => Math.Abs(p.First - p.Second) <= 1e-3 * Math.Max(1, Math.Abs(p.First))), $"max |difference| {torch.Zip(features).Max(p => Math.Abs(p.First - p.Second))}");
    }

    [Fact]
    public void AKeywordCnnFrontedByTheMelGraph_TakesRawAudio_AndAnswersAsTheCnnFileOnPyTorchsFeatures()
    {
        var uploaded = UploadedClassifier.OpenTensors(Kws, [], preprocess: Front);
        var tensors = uploaded.Spec.Graph!.Tensors!;
        Assert.Equal(Front, uploaded.Preprocess);
        Assert.Equal(["wave:float[-1,8192]"], tensors.CallerInputs.Select(t => t.CanonicalText));
        Assert.Equal(["features:float[-1,40,32]"], tensors.Inputs.Select(t => t.CanonicalText)); // the model's own, unchanged
        Assert.Equal(EdgeMlOps.Shared.Hashing.ContentHash.Sha256Hex(Front), tensors.Preprocess!.Sha256);
        Assert.Equal(["features"], tensors.Preprocess.Outputs);
        Assert.Equal(uploaded.Spec, ModelArchitectures.ToSpec(ModelArchitectures.From(uploaded.Spec, []))); // signed and read back whole
        Assert.Contains("|preprocess:" + tensors.Preprocess.Sha256, tensors.CanonicalText, StringComparison.Ordinal);

        using var fronted = InferenceModel.Load(Kws, uploaded.Spec, preprocess: Front);
        var answer = fronted.Run([new NamedTensor("wave", TensorElement.Float, [2, 8192], Waves())]);
        using var cnn = InferenceModel.Load(Kws, UploadedClassifier.OpenTensors(Kws, []).Spec);
        var reference = cnn.Run([new NamedTensor("features", TensorElement.Float, [2, 40, 32], TorchFeatures())]);
        var (mine, theirs) = ((float[])answer.Single(o => o.Name == "probabilities").Data, (float[])reference.Single(o => o.Name == "probabilities").Data);
        Assert.Equal(10, mine.Length);
        Assert.True(mine.Zip(theirs).All(p => Math.Abs(p.First - p.Second) <= 1e-4), $"{string.Join(", ", mine)} vs {string.Join(", ", theirs)}");
        Assert.Equal((long[])reference.Single(o => o.Name == "label").Data, (long[])answer.Single(o => o.Name == "label").Data);

        // The caller's terms: a model input the front end makes is not an input a caller may send.
        var sent = Assert.Throws<ArgumentException>(() => fronted.Run([new NamedTensor("features", TensorElement.Float, [1, 40, 32], new float[1280])]));
        Assert.Contains("has no input 'features' (inputs: wave)", sent.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheDeclaredFileIsTheOnlyOneThatRuns_AndAMissingOrOtherFileIsRefused()
    {
        var spec = UploadedClassifier.OpenTensors(Kws, [], preprocess: Front).Spec;
        var missing = Assert.Throws<InvalidDataException>(() => InferenceModel.Load(Kws, spec));
        Assert.Contains("the preprocessing graph " + spec.Graph!.Tensors!.Preprocess!.Sha256 + " is missing", missing.Message, StringComparison.Ordinal);
        var tampered = (byte[])Front.Clone();
        tampered[^8] ^= 1; // a filterbank value changed by one bit
        Assert.Contains("is not the declared", Assert.Throws<InvalidDataException>(() => InferenceModel.Load(Kws, spec, preprocess: tampered)).Message, StringComparison.Ordinal);
        var plain = UploadedClassifier.OpenTensors(Kws, []).Spec;
        Assert.Contains("declares none", Assert.Throws<InvalidDataException>(() => InferenceModel.Load(Kws, plain, preprocess: Front)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFrontEndThatDoesNotFitTheModel_IsRefusedNamingTheTensor()
    {
        // Its output 'features' is [batch, 40, 32]; the image scorer takes 'image' — nothing it makes feeds the model.
        var scorer = File.ReadAllBytes(Fixture("pytorch_image_scorer.onnx"));
        var stray = Assert.Throws<InvalidDataException>(() => UploadedClassifier.OpenTensors(scorer, [], preprocess: Front));
        Assert.Contains("the preprocessing output 'features' is no model input (inputs: image)", stray.Message, StringComparison.Ordinal);

        // A graph whose outputs are not model inputs (the CNN's probabilities and label), and one whose output has the name but not the rank.
        var gru = File.ReadAllBytes(Fixture("pytorch_gru_keyword.onnx"));
        Assert.Contains("the preprocessing output 'probabilities' is no model input", Assert.Throws<InvalidDataException>(() => UploadedClassifier.OpenTensors(gru, [("h_in", "h_out")], preprocess: Kws)).Message, StringComparison.Ordinal);
        var detector = File.ReadAllBytes(Fixture("pytorch_binary_detector.onnx"));
        Assert.Contains("cannot feed the model input features:float[-1,8]", Assert.Throws<InvalidDataException>(() => UploadedClassifier.OpenTensors(detector, [], preprocess: Front)).Message, StringComparison.Ordinal);

        // A name meaning two things: the caller's 'wave' for the front end and a model input 'wave' it does not make.
        var sha = new string('a', 64);
        TensorSignature Float(string name, params long[] dims) => new(name, TensorElement.Float, dims);
        var clash = Assert.Throws<ArgumentException>(() => new TensorInterface([Float("features", -1, 4), Float("wave", -1, 8)], [Float("score", -1, 1)], [], sha, new TensorPreprocess(sha, 100, [Float("wave", -1, 8)], ["features"])));
        Assert.Contains("the preprocessing input 'wave' is also a model input it does not make", clash.Message, StringComparison.Ordinal);
        Assert.Contains("not an ONNX model", Assert.Throws<InvalidDataException>(() => UploadedClassifier.OpenTensors(Kws, [], preprocess: [1, 2, 3])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheKeywordCnnAsAClassifierTheFleetTrains_PredictsAndTakesATrainStep_OnRawAudio_AsOnPyTorchsFeatures()
    {
        var fronted = UploadedClassifier.Open(Kws, new UploadedClassifierOptions("last:1") { Preprocess = Front });
        var plain = UploadedClassifier.Open(Kws, new UploadedClassifierOptions("last:1"));
        var graph = fronted.Spec.Graph!;
        Assert.Equal((8192L, "features", 8192), (graph.SampleDims.Single(), graph.FeaturesInput, fronted.Spec.InputDim)); // callers send raw audio
        Assert.Equal((EdgeMlOps.Shared.Hashing.ContentHash.Sha256Hex(Front), "wave"), (graph.Preprocess!.Sha256, graph.Preprocess.Inputs[0].Name));
        Assert.Equal(fronted.Spec, ModelArchitectures.ToSpec(ModelArchitectures.From(fronted.Spec, []))); // signed and read back whole
        Assert.Equal(plain.TrainStep, fronted.TrainStep); // the train step is generated from the model's graph alone
        Assert.Equal([40L, 32L], graph.FeatureDims);
        Assert.Equal((1280, 1280), (graph.FeatureLength, fronted.Spec.MonitoredWidth)); // monitoring sketches what the CNN sees

        using (var served = InferenceModel.Load(Kws, fronted.Spec, preprocess: Front))
        using (var reference = InferenceModel.Load(Kws, plain.Spec))
        {
            var mine = served.Predict(Waves(), 2);
            var theirs = reference.Predict(TorchFeatures(), 2);
            Assert.True(mine.Probabilities.Zip(theirs.Probabilities).All(p => Math.Abs(p.First - p.Second) <= 1e-4), $"{string.Join(", ", mine.Probabilities)} vs {string.Join(", ", theirs.Probabilities)}");
            Assert.Equal(theirs.Labels, mine.Labels);
            Assert.Null(theirs.Features);
            AssertNear(TorchFeatures(), mine.Features!, 1e-3f, "the features the front end made while serving");
        }

        // One SGD step on the raw waves through the front end moves the head as the same step on PyTorch's features.
        var plan = new LocalTrainingPlan(Epochs: 1, BatchSize: 2, LearningRate: 0.5f, Seed: 1);
        long[] labels = [0, 3];
        var initial = fronted.InitialWeights().Values;
        using var throughFront = new TrainStepModel(fronted.TrainStep!, fronted.Spec, preprocess: Front);
        using var onFeatures = new TrainStepModel(plain.TrainStep!, plain.Spec);
        Assert.Equal(8192, throughFront.SampleLength);
        var a = throughFront.Train(initial, Waves(), labels, plan);
        var b = onFeatures.Train(initial, TorchFeatures(), labels, plan);
        var moved = a.Weights.Zip(initial).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(moved > 1e-3, $"the step moved the head by at most {moved}");
        var worst = a.Weights.Zip(b.Weights).Max(p => Math.Abs(p.First - p.Second));
        output.WriteLine($"one step on raw waves vs on PyTorch's features: weights differ by up to {worst:G3}, the step moved them by up to {moved:G3}; loss {a.Loss:F5} vs {b.Loss:F5}");
        Assert.True(worst <= 1e-4, $"weights differ by up to {worst} (the step moved them by up to {moved})");
        Assert.Equal(b.Loss, a.Loss, 4);
        AssertNear(TorchFeatures(), a.FrontFeatures!, 1e-3f, "the features the front end made for training"); // what its training profile sketches
        Assert.Null(b.FrontFeatures);
        Assert.Contains("is missing", Assert.Throws<InvalidDataException>(() => new TrainStepModel(fronted.TrainStep!, fronted.Spec)).Message, StringComparison.Ordinal);
    }

    private static void AssertNear(float[] expected, float[] actual, float tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = expected.Zip(actual).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(worst <= tolerance, $"{what} differ from PyTorch's by up to {worst}");
    }

    [Fact]
    public void AManifestDeclaringAHostilePreprocessingGraph_IsRefusedWithTheVersion()
    {
        static string Refusal(EdgeMlOps.Shared.Protocol.V1.ModelArchitecture architecture) => Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(architecture)).Message;
        var tensors = ModelArchitectures.From(UploadedClassifier.OpenTensors(Kws, [], preprocess: Front).Spec, []);
        var classifier = ModelArchitectures.From(UploadedClassifier.Open(Kws, new UploadedClassifierOptions("last:1") { Preprocess = Front }).Spec, []);

        var huge = tensors.Clone();
        huge.Graph.Tensors.Preprocess.Size = (ulong)TensorPreprocess.MaxBytes + 1;
        Assert.Contains("over 67108864 bytes", Refusal(huge), StringComparison.Ordinal);
        var unpinned = classifier.Clone();
        unpinned.Graph.Preprocess.Sha256 = "not-a-hash";
        Assert.Contains("its sha256 is not 64 lower-case hex digits", Refusal(unpinned), StringComparison.Ordinal);
        var flood = tensors.Clone();
        for (var i = 0; i < 70; i++) flood.Graph.Tensors.Preprocess.Inputs.Add(new EdgeMlOps.Shared.Protocol.V1.TensorSignatureSpec { Name = $"i{i}", Type = "float", Dims = { -1 } });
        Assert.Contains("more than 64 inputs or outputs", Refusal(flood), StringComparison.Ordinal);
        var stray = tensors.Clone();
        stray.Graph.Tensors.Preprocess.Outputs[0] = "h_in";
        Assert.Contains("the preprocessing output 'h_in' is no model input", Refusal(stray), StringComparison.Ordinal);

        // A classifier's front end makes exactly its features input, from samples of its declared shape.
        var elsewhere = classifier.Clone();
        elsewhere.Graph.Preprocess.Outputs[0] = "other";
        Assert.Contains("makes one output, the features input 'features'", Refusal(elsewhere), StringComparison.Ordinal);
        var reshaped = classifier.Clone();
        reshaped.Graph.Preprocess.Inputs[0].Dims[1] = 16000;
        Assert.Contains("does not take float samples [8192]", Refusal(reshaped), StringComparison.Ordinal);

        // It signs the dims of the features it makes (monitoring sketches them): bounded, and never without a front end.
        var vast = classifier.Clone();
        vast.Graph.FeatureDims[0] = 1L << 40;
        Assert.Contains("at most 1048576 values", Refusal(vast), StringComparison.Ordinal);
        var undeclared = classifier.Clone();
        undeclared.Graph.FeatureDims.Clear();
        Assert.Contains("feature_dims are declared with a preprocessing graph, and only then", Refusal(undeclared), StringComparison.Ordinal);
        var plain = ModelArchitectures.From(UploadedClassifier.Open(Kws, new UploadedClassifierOptions("last:1")).Spec, []);
        plain.Graph.FeatureDims.Add(1280);
        Assert.Contains("feature_dims are declared with a preprocessing graph, and only then", Refusal(plain), StringComparison.Ordinal);

        // A tensor model declares its front end inside its tensor interface, never beside it.
        var mixed = tensors.Clone();
        mixed.Graph.Preprocess = classifier.Graph.Preprocess.Clone();
        Assert.Contains("declares no features", Refusal(mixed), StringComparison.Ordinal);
    }
}
