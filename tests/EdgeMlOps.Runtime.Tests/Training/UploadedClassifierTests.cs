using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Proto;
using EdgeMlOps.Shared.Onnx.Training;
using Google.Protobuf;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// Uploaded ONNX classifiers made ready for the fleet: their interface read from the graph, served as they are
/// (outputs equal to what PyTorch computed), later versions differing only in trained values, and every way a file
/// can fail to fit refused with a sentence that says why.
/// </summary>
public class UploadedClassifierTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static byte[] Bytes(string name) => File.ReadAllBytes(Fixture(name + ".onnx"));

    /// <summary>
    /// One SGD step of the generated train step on the whole batch: the loss is PyTorch's, and (w − w') / η — the
    /// gradient — is within 1e-4 relative of PyTorch's autograd gradient (<c>expected.gradients</c>) for every tensor.
    /// </summary>
    internal static void OneSgdStepFollowsPyTorch(UploadedClassifier uploaded, float[] features, long[] labels, JsonElement expected)
    {
        using var trainer = new TrainStepModel(uploaded.TrainStep!, uploaded.Spec);
        const float Eta = 1000f; // w − w' = η·g dwarfs w, so float32 rounding of w' costs ~1e-7 of the gradient even where it is 1e-4 (a depthwise kernel's)
        var before = uploaded.InitialWeights();
        var after = trainer.Train(before.Values, features, labels, new LocalTrainingPlan(Epochs: 1, BatchSize: labels.Length, LearningRate: Eta, Seed: 0));
        Assert.Equal(expected.GetProperty("loss").GetDouble(), after.InitialLoss, 4);
        static double Norm(IEnumerable<double> v) => Math.Sqrt(v.Sum(x => x * x));
        var largest = before.Layout.Tensors.Max(t => Norm(expected.GetProperty("gradients").GetProperty(t.Name).EnumerateArray().Select(e => e.GetDouble())));
        foreach (var tensor in before.Layout.Tensors)
        {
            var theirs = expected.GetProperty("gradients").GetProperty(tensor.Name).EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var ours = Enumerable.Range(tensor.Offset, tensor.Length).Select(i => (before.Values[i] - after.Weights[i]) / (double)Eta).ToArray();
            var error = Norm(ours.Zip(theirs, (a, b) => a - b));
            if (Norm(theirs) < 1e-6 * largest)
            {
                // A gradient that is zero in exact arithmetic (a key bias: it shifts every score of a row alike, and
                // softmax ignores that) is rounding noise in both: ours must stay at float32's noise level too.
                Assert.True(error < 1e-5 * largest, $"{tensor.Name}: {error:E2} where PyTorch's gradient is zero (largest tensor gradient {largest:E2})");
                continue;
            }

            var relative = error / Norm(theirs);
            Assert.True(relative < 1e-4, $"{tensor.Name}: relative error {relative:E2}");
        }
    }

    public static TheoryData<string, long[], int> PyTorchModels => new()
    {
        { "pytorch_cnn_mnist", [1, 28, 28], 10 },
        { "pytorch_kws_1d", [40, 32], 5 },
    };

    [Theory]
    [MemberData(nameof(PyTorchModels))]
    public void PyTorchExports_ServedThroughTheirOwnInterface_GiveWhatPyTorchComputed(string name, long[] sampleDims, int classes)
    {
        var bytes = Bytes(name);
        var uploaded = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("last:1"));
        var graph = uploaded.Spec.Graph!;
        Assert.Equal("features", graph.FeaturesInput);
        Assert.Equal(sampleDims, graph.SampleDims);
        Assert.Equal("probabilities", graph.ScoresOutput);
        Assert.False(graph.ScoresAreLogits); // the export ends in Softmax
        Assert.Equal(["head.weight", "head.bias"], graph.Trained.Select(t => t.Name));
        Assert.Equal(classes, uploaded.Spec.Classes);
        Assert.Equal((int)sampleDims.Aggregate(1L, (a, d) => a * d), uploaded.Spec.InputDim);
        Assert.StartsWith("onnx-", uploaded.Spec.ToString(), StringComparison.Ordinal);

        using var json = JsonDocument.Parse(File.ReadAllText(Fixture("pytorch_expected.json")));
        var expected = json.RootElement.GetProperty(name);
        var features = expected.GetProperty("features").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        var probabilities = expected.GetProperty("probabilities").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        using var model = InferenceModel.Load(bytes, uploaded.Spec);
        Assert.Equal(bytes, uploaded.InferenceBytes(uploaded.InitialWeights()));
        var count = features.Length / uploaded.Spec.InputDim;
        var prediction = model.Predict(features, count);
        for (var i = 0; i < probabilities.Length; i++) Assert.Equal(probabilities[i], prediction.Probabilities[i], 5);
        for (var r = 0; r < count; r++)
        {
            var row = probabilities.AsSpan(r * classes, classes);
            Assert.Equal(row.IndexOf(row.ToArray().Max()), prediction.Labels[r]);
        }
    }

    [Fact]
    public void ATextClassifierOverTokenIds_IsServedOnItsIds_AndTrainsItsEmbeddingWithPyTorchsGradients()
    {
        var bytes = Bytes("pytorch_text_ids");
        var uploaded = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all"));
        var graph = uploaded.Spec.Graph!;
        Assert.True(graph.IntegerFeatures);
        Assert.True(graph.ScoresAreLogits); // the export ends in the head's Gemm
        Assert.Equal(["embedding.weight", "head.weight", "head.bias"], graph.Trained.Select(t => t.Name));
        Assert.Equal(uploaded.Spec, ModelArchitectures.ToSpec(ModelArchitectures.From(uploaded.Spec, [])));

        using var json = JsonDocument.Parse(File.ReadAllText(Fixture("pytorch_text_expected.json")));
        var expected = json.RootElement;
        var tokens = expected.GetProperty("tokens").EnumerateArray().Select(e => (float)e.GetInt64()).ToArray();
        var labels = expected.GetProperty("labels").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var probabilities = expected.GetProperty("probabilities").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        using var model = InferenceModel.Load(bytes, uploaded.Spec);
        var prediction = model.Predict(tokens, labels.Length);
        for (var i = 0; i < probabilities.Length; i++) Assert.Equal(probabilities[i], prediction.Probabilities[i], 5);
        Assert.Throws<ArgumentException>(() => model.Predict([.. tokens[..11], 2.5f], 1));
        Assert.Throws<ArgumentException>(() => model.Predict([.. tokens[..11], -1f], 1));

        // One SGD step on the whole batch: its gradient is PyTorch's for every tensor (the embedding's through Gather).
        OneSgdStepFollowsPyTorch(uploaded, tokens, labels, expected);
    }

    [Theory]
    [InlineData("pytorch_binary_detector", false)]
    [InlineData("pytorch_binary_logit", true)]
    public void ABinaryClassifierWithOneScorePerRow_IsServedAsTwoClasses_AndTrainsWithPyTorchsBinaryCrossEntropyGradients(string name, bool logits)
    {
        var bytes = Bytes(name);
        var uploaded = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all"));
        var graph = uploaded.Spec.Graph!;
        Assert.True(graph.SingleScore);
        Assert.Equal(2, uploaded.Spec.Classes);
        Assert.Equal(logits, graph.ScoresAreLogits); // a final Sigmoid makes probabilities
        Assert.Equal(["hidden.weight", "hidden.bias", "head.weight", "head.bias"], graph.Trained.Select(t => t.Name));
        Assert.Equal(uploaded.Spec, ModelArchitectures.ToSpec(ModelArchitectures.From(uploaded.Spec, [])));
        Assert.NotEqual(uploaded.Spec, ModelSpec.ForGraph(new GraphInterface(graph.FeaturesInput, graph.SampleDims, graph.ScoresOutput, graph.ScoresAreLogits, graph.Trained, graph.SourceSha256), 2));

        using var json = JsonDocument.Parse(File.ReadAllText(Fixture("binary_detector_expected.json")));
        var expected = json.RootElement;
        var rows = expected.GetProperty("rows").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        var labels = expected.GetProperty("labels").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var scores = expected.GetProperty("scores").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        using var model = InferenceModel.Load(bytes, uploaded.Spec);
        var prediction = model.Predict(rows, labels.Length);
        Assert.Equal(2, prediction.Classes);
        for (var i = 0; i < scores.Length; i++)
        {
            Assert.Equal(scores[i], prediction.Probabilities[2 * i + 1], 5);
            Assert.Equal(1 - scores[i], prediction.Probabilities[2 * i], 5);
            Assert.Equal(scores[i] > 0.5f ? 1 : 0, prediction.Labels[i]);
        }

        // One SGD step on the whole batch: its gradient is PyTorch's for every tensor.
        OneSgdStepFollowsPyTorch(uploaded, rows, labels, expected);
    }

    [Fact]
    public void ALaterVersion_IsTheSameFile_WithOnlyTheTrainedValuesChanged()
    {
        var bytes = Bytes("pytorch_cnn_mnist");
        var uploaded = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("last:1"));
        var weights = uploaded.InitialWeights().Clone();
        for (var i = 0; i < weights.Values.Length; i++) weights.Values[i] += 0.01f * (i % 7);

        var next = uploaded.InferenceBytes(weights);
        Assert.NotEqual(bytes, next);
        var (before, after) = (ClassifierGraphs.Parse(bytes), ClassifierGraphs.Parse(next));
        Assert.Equal(before.Graph.Node, after.Graph.Node);
        Assert.Equal(before.Graph.Input, after.Graph.Input);
        Assert.Equal(before.Graph.Output, after.Graph.Output);
        Assert.Equal(before.OpsetImport, after.OpsetImport);
        var changed = before.Graph.Initializer.Zip(after.Graph.Initializer).Where(p => !p.First.Equals(p.Second)).Select(p => p.First.Name);
        Assert.Equal(["head.weight", "head.bias"], changed);
        Assert.Equal(weights.Values, UploadedClassifier.ReadWeights(next, uploaded.Spec).Values);
        using var model = InferenceModel.Load(next, uploaded.Spec);
        Assert.Equal(weights.Values, model.Weights.Values);
    }

    /// <summary>
    /// A version the fleet trained is the user's file with new values written over the old ones: every other byte is the
    /// exporter's. It was the graph parsed and encoded again by this process, whose protobuf library drops fields PyTorch
    /// wrote at their defaults: the same function, but not the user's bytes.
    /// </summary>
    [Fact]
    public void ALaterVersion_DiffersFromTheUploadedBytes_OnlyInsideItsTrainedValues()
    {
        var bytes = Bytes("pytorch_cnn_mnist");
        var uploaded = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("last:1"));
        var weights = uploaded.InitialWeights().Clone();
        for (var i = 0; i < weights.Values.Length; i++) weights.Values[i] += 0.01f * ((i % 7) + 1);

        var next = uploaded.InferenceBytes(weights);

        Assert.Equal(bytes.Length, next.Length);
        var trained = ClassifierGraphs.Parse(bytes).Graph.Initializer.Where(t => t.Name is "head.weight" or "head.bias")
            .Select(t => (At: bytes.AsSpan().IndexOf(t.RawData.Span), t.RawData.Length)).ToArray();
        Assert.All(trained, t => Assert.True(t.At > 0));
        var changed = Enumerable.Range(0, bytes.Length).Where(i => bytes[i] != next[i]).ToArray();
        Assert.NotEmpty(changed);
        Assert.All(changed, i => Assert.Contains(trained, t => i >= t.At && i < t.At + t.Length));
        Assert.Equal(weights.Values, UploadedClassifier.ReadWeights(next, uploaded.Spec).Values);
    }

    [Fact]
    public void ALogitsOutput_IsSoftmaxedOnTheDevice()
    {
        // The same CNN exported without its final Softmax/ArgMax: the class scores are logits.
        var model = ClassifierGraphs.Parse(Bytes("pytorch_cnn_mnist"));
        var softmax = model.Graph.Node.Single(n => n.OpType == "Softmax");
        var logits = softmax.Input[0];
        foreach (var node in model.Graph.Node.Where(n => n.OpType is "Softmax" or "ArgMax").ToList()) model.Graph.Node.Remove(node);
        var output = model.Graph.Output.Single(o => o.Name == "probabilities");
        output.Name = logits;
        model.Graph.Output.Remove(model.Graph.Output.Single(o => o.Name == "label"));
        var bytes = model.ToByteArray();

        var uploaded = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("last:1"));
        Assert.True(uploaded.Spec.Graph!.ScoresAreLogits);
        Assert.Equal(logits, uploaded.Spec.Graph.ScoresOutput);

        using var json = JsonDocument.Parse(File.ReadAllText(Fixture("pytorch_expected.json")));
        var expected = json.RootElement.GetProperty("pytorch_cnn_mnist");
        var features = expected.GetProperty("features").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        var probabilities = expected.GetProperty("probabilities").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        using var served = InferenceModel.Load(bytes, uploaded.Spec);
        var prediction = served.Predict(features, 4);
        for (var i = 0; i < probabilities.Length; i++) Assert.Equal(probabilities[i], prediction.Probabilities[i], 5);
    }

    [Fact]
    public void FilesThatDoNotFit_AreRefused_SayingWhy()
    {
        string Refusal(Action<ModelProto> change, string trainable = "last:1")
        {
            var model = ClassifierGraphs.Parse(Bytes("pytorch_cnn_mnist"));
            change(model);
            return Assert.ThrowsAny<Exception>(() => UploadedClassifier.Open(model.ToByteArray(), new UploadedClassifierOptions(trainable))).Message;
        }

        Assert.Contains("not an ONNX model", Assert.Throws<InvalidDataException>(() => UploadedClassifier.Open([0x0a, 0xff, 0xff, 0xff], new UploadedClassifierOptions())).Message);
        Assert.Contains("has a fixed batch of 3; export it with a dynamic batch axis", Refusal(m => m.Graph.Input[0].Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimValue = 3 }));
        Assert.Contains("name the features input", Refusal(m => m.Graph.Input.Add(new ValueInfoProto { Name = "extra", Type = m.Graph.Input[0].Type.Clone() })));
        Assert.Contains("must be fixed", Refusal(m => m.Graph.Input[0].Type.TensorType.Shape.Dim[2] = new TensorShapeProto.Types.Dimension { DimParam = "height" }));
        Assert.Contains("no output is float [batch, classes ≥ 2]", Refusal(m => m.Graph.Output.Remove(m.Graph.Output.Single(o => o.Name == "probabilities"))));
        Assert.Contains("not well formed", Refusal(m => m.Graph.Node.RemoveAt(0)));
        Assert.Contains("nope", Refusal(_ => { }, trainable: "nope"));

        // A tree ensemble is a model no gradient reaches: not a classifier the fleet can fine-tune.
        Assert.Throws<NotDifferentiableException>(() => UploadedClassifier.Open(Bytes("sklearn_forest_wine"), new UploadedClassifierOptions("all")));
    }

    [Fact]
    public void ArtifactsThatDoNotMatchTheDeclaredInterface_DoNotLoad()
    {
        var uploaded = UploadedClassifier.Open(Bytes("pytorch_cnn_mnist"), new UploadedClassifierOptions("last:1"));
        var other = UploadedClassifier.Open(Bytes("pytorch_kws_1d"), new UploadedClassifierOptions("last:1"));

        Assert.Contains("head.weight", Assert.Throws<InvalidDataException>(() => InferenceModel.Load(Bytes("pytorch_kws_1d"), uploaded.Spec)).Message);
        Assert.Throws<InvalidDataException>(() => InferenceModel.Load(ClassifierGraphs.BuildInference(ModelWeights.Initialize(ModelSpec.Mlp(784, [16], 10), 1)).ToByteArray(), uploaded.Spec));
        Assert.Throws<InvalidDataException>(() => InferenceModel.Load(Bytes("pytorch_cnn_mnist"), ModelSpec.Mlp(784, [16], 10)));
        Assert.NotEqual(uploaded.Spec, other.Spec);

        // A renamed scores output: the interface names a value the graph does not have.
        var renamed = ModelSpec.ForGraph(new GraphInterface("features", [1, 28, 28], "scores", false, uploaded.Spec.Graph!.Trained, uploaded.Spec.Graph.SourceSha256), 10);
        Assert.Contains("'scores'", Assert.Throws<InvalidDataException>(() => InferenceModel.Load(Bytes("pytorch_cnn_mnist"), renamed)).Message);
    }

    [Fact]
    public void TheSignedArchitecture_CarriesTheInterface_AndRefusesOneNoDeviceCouldRun()
    {
        var spec = UploadedClassifier.Open(Bytes("pytorch_cnn_mnist"), new UploadedClassifierOptions("last:2")).Spec;
        var architecture = ModelArchitectures.From(spec, []);
        Assert.Equal(spec, ModelArchitectures.ToSpec(architecture));
        Assert.Equal(spec.ToString(), ModelArchitectures.ToSpec(architecture).ToString());
        var dense = ModelSpec.Mlp(784, [64], 10);
        Assert.Equal(dense, ModelArchitectures.ToSpec(ModelArchitectures.From(dense, [3])));

        var wrongWidth = architecture.Clone();
        wrongWidth.InputDim = 100;
        Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(wrongWidth));
        var huge = architecture.Clone();
        huge.Graph.Trained[0].Dims.Add(1L << 40);
        Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(huge));
        var nameless = architecture.Clone();
        nameless.Graph.FeaturesInput = "";
        Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(nameless));
    }
}
