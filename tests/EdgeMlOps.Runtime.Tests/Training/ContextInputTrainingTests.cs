using System.Globalization;
using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A model with two inputs exported by PyTorch (<c>export_diabetes_two_inputs.py</c>: nine measurements as floats and
/// the patient's sex as an id into an embedding, predicting disease progression, trained on one sex only): the second
/// input is declared a context input, so a sample is the measurements then the id; served as its file, one train step
/// follows PyTorch's gradient of every parameter (the embedding's included), and federated averaging over both sexes
/// learns the embedding row the upload never trained.
/// </summary>
public class ContextInputTrainingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("diabetes_two_inputs_expected.json"))).RootElement;

    internal static readonly byte[] TwoInputs = File.ReadAllBytes(Fixture("pytorch_diabetes_two_inputs.onnx"));

    /// <summary>The same model with the sex column a string ("1" or "2"), one-hot encoded by ai.onnx.ml as converters of scikit-learn pipelines write it (<c>export_diabetes_string_sex.py</c>).</summary>
    internal static readonly byte[] StringSex = File.ReadAllBytes(Fixture("pytorch_diabetes_string_sex.onnx"));

    private static float[] Floats(string name) => [.. Expected.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];

    private static UploadedClassifier Open(string trainable = "all", byte[]? file = null) =>
        UploadedClassifier.Open(file ?? TwoInputs, new UploadedClassifierOptions(trainable) { Regression = true, Input = "measurements" });

    private static string Span(GraphInterface.SampleSpan s) => $"{s.Name}:{s.Offset}+{s.Length}" + s.Element switch
    {
        TensorElement.Int64 => ":ids",
        TensorElement.String => ":categories " + string.Join(',', s.Categories),
        _ => string.Empty,
    };

    /// <summary>The sex column as an id (an embedding's Gather) or as a string (a one-hot encoder): a row keeps 0 or 1 either way, the string's index among the categories.</summary>
    [Theory]
    [InlineData("pytorch_diabetes_two_inputs.onnx", "sex:9+1:ids")]
    [InlineData("pytorch_diabetes_string_sex.onnx", "sex:9+1:categories 1,2")]
    public void TheSecondInput_IsAContextInput_ServedAsTheFile_AndOneStepFollowsPyTorchsGradient(string file, string sexSpan)
    {
        var bytes = File.ReadAllBytes(Fixture(file));
        var model = Open(file: bytes);
        var spec = model.Spec;
        var graph = spec.Graph!;
        Assert.Equal(("measurements", 9, 10), (graph.FeaturesInput, graph.FeaturesLength, spec.InputDim));
        Assert.Equal(["measurements:0+9", sexSpan], graph.SampleSpans().Select(Span));
        Assert.Contains("sex_embedding.weight", graph.Trained.Select(t => t.Name));
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole

        using var served = InferenceModel.Load(bytes, spec);
        var rows = Floats("rows");
        var values = served.PredictValues(rows, 6).Values;
        Assert.All(Floats("predictions").Zip(values), p => Assert.Equal(p.First, p.Second, 5));

        using var trainer = new TrainStepModel(model.TrainStep!, spec);
        Assert.Equal(10, trainer.SampleLength);
        const float Lr = 0.1f;
        var initial = model.InitialWeights();
        var result = trainer.TrainTargets(initial.Values, rows, Floats("targets"), new LocalTrainingPlan(1, 6, Lr, 1));
        Assert.Equal(Expected.GetProperty("loss").GetDouble(), result.Loss, 5);
        var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, Expected);

        output.WriteLine($"one step on six patients (both sexes): loss {result.Loss:F5} (PyTorch {Expected.GetProperty("loss").GetDouble():F5}), worst relative gradient error {worst:G3} over {initial.Layout.Tensors.Count} tensors");
        Assert.True(worst < 1e-3, $"the step differs from PyTorch's gradient by up to {worst:P3} (relative)");
    }

    [Fact]
    public void AnIdThatIsNotOne_IsRefusedWhereverRowsAreFed_NamingTheInput()
    {
        var model = Open();
        using var served = InferenceModel.Load(TwoInputs, model.Spec);
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        var rows = Floats("rows");
        rows[(2 * 10) + 9] = 0.5f; // the third patient's sex id
        Assert.Contains("for input 'sex'", Assert.Throws<ArgumentException>(() => served.PredictValues(rows, 6)).Message, StringComparison.Ordinal);
        Assert.Contains("value 9 of a sample is not an id", Assert.Throws<ArgumentException>(() =>
            trainer.TrainTargets(model.InitialWeights().Values, rows, Floats("targets"), new LocalTrainingPlan(1, 6, 0.1f, 1))).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("pytorch_diabetes_two_inputs.onnx")]
    [InlineData("pytorch_diabetes_string_sex.onnx")]
    public void FederatedAveraging_OverBothSexes_LearnsWhatTheUploadNeverSaw_AndHeldOutErrorFalls(string file)
    {
        var bytes = File.ReadAllBytes(Fixture(file));
        var model = Open(file: bytes);
        using var served = InferenceModel.Load(bytes, model.Spec);
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        var rows = File.ReadAllLines(Fixture("diabetes_two_inputs.csv")).Select(l => l.Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        float[] Features(IEnumerable<float[]> part) => [.. part.SelectMany(r => r[..10])];
        float[] Targets(IEnumerable<float[]> part) => [.. part.Select(r => r[10])];
        var heldOut = rows[332..];
        var before = served.EvaluateTargets(Features(heldOut), Targets(heldOut)).Loss;
        Assert.Equal(Expected.GetProperty("heldOutMse").GetDouble(), before, 4); // what PyTorch measured on the file

        // 10 devices of 33 patients each (both sexes), 5 rounds of FedAvg with 5 local epochs, every parameter trained.
        var weights = model.InitialWeights().Values;
        var curve = new List<double> { before };
        for (var round = 0; round < 5; round++)
        {
            var sum = new double[weights.Length];
            for (var device = 0; device < 10; device++)
            {
                var shard = rows.Skip(device * 33).Take(33).ToArray();
                var local = trainer.TrainTargets(weights, Features(shard), Targets(shard), new LocalTrainingPlan(5, 8, 0.02f, (round * 10) + device)).Weights;
                for (var i = 0; i < sum.Length; i++) sum[i] += local[i] / 10;
            }

            weights = [.. sum.Select(v => (float)v)];
            using var version = InferenceModel.Load(model.InferenceBytes(new ModelWeights(model.Spec, weights)), model.Spec);
            curve.Add(version.EvaluateTargets(Features(heldOut), Targets(heldOut)).Loss);
        }

        output.WriteLine("held-out MSE by round: " + string.Join(" → ", curve.Select(c => c.ToString("F4", CultureInfo.InvariantCulture))));
        var embedding = model.Spec.Graph!.Trained.Select((t, i) => (t.Name, i)).Single(t => t.Name == "sex_embedding.weight");
        var layout = model.InitialWeights().Layout.Tensors[embedding.i];
        Assert.NotEqual(model.InitialWeights().Values.AsSpan(layout.Offset, 4).ToArray(), weights.AsSpan(layout.Offset, 4).ToArray()); // id 0's row moved
        Assert.True(curve[^1] < before - 0.05, $"held-out MSE {before:F4} → {curve[^1]:F4}");
    }

    [Fact]
    public void ContextInputs_ThatCannotBeFed_AreRefused_AtUploadAndInTheManifest()
    {
        // Several inputs and none named: the refusal says what to do.
        Assert.Contains("name the features input (the others become context inputs)", Assert.Throws<InvalidDataException>(() =>
            UploadedClassifier.Open(TwoInputs, new UploadedClassifierOptions("all") { Regression = true })).Message, StringComparison.Ordinal);
        // Either input may be the features input: with the id first, the measurements are the context.
        var idsFirst = UploadedClassifier.Open(TwoInputs, new UploadedClassifierOptions("none") { Regression = true, Input = "sex" }).Spec.Graph!;
        Assert.Equal(["sex:0+1:ids", "measurements:1+9"], idsFirst.SampleSpans().Select(Span));

        // A preprocessing graph fronts the features input (the context inputs are fed as they are): one that makes
        // something else is refused, and so is one with two inputs itself.
        var front = File.ReadAllBytes(Fixture("pytorch_mel_frontend.onnx"));
        Assert.Contains("the preprocessing graph must make one float output, the features input 'measurements' with 2 axes; it makes features", Assert.Throws<InvalidDataException>(() =>
            UploadedClassifier.Open(TwoInputs, new UploadedClassifierOptions("all") { Regression = true, Input = "measurements", Preprocess = front })).Message, StringComparison.Ordinal);
        Assert.Contains("the preprocessing graph takes one input, the samples callers send; it takes 2 (measurements, sex)", Assert.Throws<InvalidDataException>(() =>
            UploadedClassifier.Open(File.ReadAllBytes(Fixture("pytorch_kws_1d.onnx")), new UploadedClassifierOptions("all") { Preprocess = TwoInputs })).Message, StringComparison.Ordinal);

        var graph = Open().Spec.Graph!;
        Assert.Contains("context input 'words' is a string without categories", Assert.Throws<ArgumentException>(() => graph with { ContextInputs = [new TensorSignature("words", TensorElement.String, [4])] }).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => graph with { ContextInputs = [new TensorSignature("measurements", TensorElement.Float, [1])] });
        Assert.Throws<ArgumentException>(() => graph with { ContextInputs = [new TensorSignature("sex", TensorElement.Int64, [-1])] });

        var manifest = ModelArchitectures.From(Open().Spec, []);
        var wide = manifest.Clone();
        wide.InputDim = 9; // the features alone: a device would cut every row short
        Assert.Contains("input_dim 9 is not the sample's 10 floats", Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(wide)).Message, StringComparison.Ordinal);
        var many = manifest.Clone();
        many.Graph.ContextInputs.AddRange(Enumerable.Range(0, 17).Select(i => new Shared.Protocol.V1.TensorSignatureSpec { Name = "c" + i, Type = "float", Dims = { 1 } }));
        Assert.Contains("more than 16 context inputs", Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(many)).Message, StringComparison.Ordinal);
        var typed = manifest.Clone();
        typed.Graph.ContextInputs[0].Type = "double";
        Assert.Contains("context input 'sex' is double", Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(typed)).Message, StringComparison.Ordinal);

        // A served model whose file lacks the declared context input does not load.
        var renamed = graph with { ContextInputs = [new TensorSignature("age_group", TensorElement.Int64, [1])] };
        Assert.Contains("'age_group'", Assert.Throws<InvalidDataException>(() => InferenceModel.Load(TwoInputs, ModelSpec.ForTargets(renamed))).Message, StringComparison.Ordinal);
    }
}
