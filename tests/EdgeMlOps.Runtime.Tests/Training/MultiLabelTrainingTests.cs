using System.Globalization;
using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A multi-label classifier exported by PyTorch (<c>export_digit_attributes.py</c>: an MLP over scikit-learn's 8×8
/// digit scans scoring four attributes — even, five or more, prime, a closed loop — with a final Sigmoid, trained on
/// digits 0–4): served as its file, trained with binary cross-entropy on 0/1 label vectors by the generated train step
/// (on the logits under the Sigmoid), scored by cross-entropy and label accuracy — each against what PyTorch computed.
/// </summary>
public class MultiLabelTrainingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("digit_attributes_expected.json"))).RootElement;

    internal static readonly byte[] Attributes = File.ReadAllBytes(Fixture("pytorch_digit_attributes.onnx"));

    private static float[] Floats(string name) => [.. Expected.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];

    /// <summary>The digit scans as the script wrote them: (64 pixels, 4 labels) per scan.</summary>
    internal static (float[] Features, float[] Labels) Digits()
    {
        var rows = File.ReadAllLines(Fixture("digit_attributes.csv")).Select(l => l.Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        return ([.. rows.SelectMany(r => r[..64])], [.. rows.SelectMany(r => r[64..])]);
    }

    [Fact]
    public void PyTorchsMultiLabelClassifier_IsServedAsItsFile_AndOneStepFollowsPyTorchsGradient()
    {
        var model = UploadedClassifier.Open(Attributes, new UploadedClassifierOptions("all") { MultiLabel = true });
        var spec = model.Spec;
        Assert.True(spec.IsMultiLabel);
        Assert.False(spec.IsRegressor);
        Assert.Equal((64, 0, 4, "attributes", false), (spec.InputDim, spec.Classes, spec.Targets, spec.Graph!.ScoresOutput, spec.Graph.ScoresAreLogits));
        Assert.Equal("4 independent label probabilities per row, any number of labels true", spec.Graph.ScoresKind);
        Assert.Equal(("label accuracy", "Brier score"), (spec.AccuracyName, spec.SquaredErrorName));
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole

        using var served = InferenceModel.Load(Attributes, spec);
        var rows = Floats("rows");
        var probabilities = served.PredictValues(rows, 6).Values;
        Assert.All(Floats("probabilities").Zip(probabilities), p => Assert.Equal(p.First, p.Second, 5));
        Assert.Contains("use PredictValues", Assert.Throws<InvalidOperationException>(() => served.Predict(rows, 6)).Message, StringComparison.Ordinal);

        // One SGD step over the six scans as one batch moves every parameter by −lr × PyTorch's gradient of the mean
        // binary cross-entropy (BCEWithLogits over 6 × 4 decisions).
        using var trainer = new TrainStepModel(model.TrainStep!, spec);
        Assert.Equal(4, trainer.TargetWidth);
        const float Lr = 0.5f;
        var initial = model.InitialWeights();
        var labels = Floats("labels");
        var result = trainer.TrainTargets(initial.Values, rows, labels, new LocalTrainingPlan(1, 6, Lr, 1));
        Assert.Equal(Expected.GetProperty("loss").GetDouble(), result.Loss, 5);
        var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, Expected);

        // The step's accuracy is the share of the 24 label decisions right before the update, as counted here.
        var right = probabilities.Zip(labels).Count(p => (p.First > 0.5f) == (p.Second > 0.5f));
        output.WriteLine($"one step on six scans: loss {result.Loss:F5} (PyTorch {Expected.GetProperty("loss").GetDouble():F5}), worst relative gradient error {worst:G3}, {right}/24 decisions right");
        Assert.True(worst < 1e-3, $"the step differs from PyTorch's gradient by up to {worst:P3} (relative)");
        Assert.Equal(right / 24.0, result.Accuracy, 6);
    }

    [Fact]
    public void TheScoreOfAMultiLabelClassifier_IsItsCrossEntropy_AndTheShareOfLabelDecisionsRight()
    {
        var spec = UploadedClassifier.Open(Attributes, new UploadedClassifierOptions("all") { MultiLabel = true }).Spec;
        using var served = InferenceModel.Load(Attributes, spec);
        var (features, labels) = Digits();
        var heldOut = (Features: features[(1400 * 64)..], Labels: labels[(1400 * 4)..]);
        var rows = heldOut.Labels.Length / 4;
        var p = served.PredictValues(heldOut.Features, rows).Values;
        var crossEntropy = p.Zip(heldOut.Labels).Average(x => -(x.Second > 0.5f ? Math.Log(Math.Clamp(x.First, 1e-7, 1 - 1e-7)) : Math.Log(1 - Math.Clamp(x.First, 1e-7, 1 - 1e-7))));
        var accuracy = p.Zip(heldOut.Labels).Average(x => (x.First > 0.5f) == (x.Second > 0.5f) ? 1.0 : 0.0);

        var score = served.EvaluateTargets(heldOut.Features, heldOut.Labels, batchSize: 50);
        output.WriteLine($"held out ({rows} scans): binary cross-entropy {score.Loss:F4}, label accuracy {score.Accuracy:F4} (the script printed 0.6839)");
        Assert.Equal(crossEntropy, score.Loss, 6);
        Assert.Equal(accuracy, score.Accuracy, 6);
        Assert.Equal(397, score.Samples);
        Assert.Equal(0.6839, score.Accuracy, 3);

        // By cohort: the digits it was trained on (0–4) against those it never saw; the overall is their weighted mean.
        var digits = Enumerable.Range(0, rows).Select(i => heldOut.Labels[(i * 4) + 1] > 0.5f ? "5-9" : "0-4").ToArray();
        var byCohort = served.EvaluateTargetCohorts(heldOut.Features, heldOut.Labels, digits);
        output.WriteLine($"digits 0-4: {byCohort["0-4"].Accuracy:F4}; digits 5-9: {byCohort["5-9"].Accuracy:F4}");
        Assert.True(byCohort["0-4"].Accuracy > 0.9 && byCohort["5-9"].Accuracy < 0.6, "trained on digits 0-4 only, it should know those and not the others");
        Assert.Equal(score.Accuracy, ((byCohort["0-4"].Accuracy * byCohort["0-4"].Samples) + (byCohort["5-9"].Accuracy * byCohort["5-9"].Samples)) / rows, 6);
    }

    [Fact]
    public void ALogitsMultiLabelClassifier_IsServedThroughTheSigmoid()
    {
        // The same file read as logits (the Sigmoid's output taken as raw scores) is a different model: served values pass a
        // sigmoid on the device, so they stay probabilities in (0, 1).
        var spec = UploadedClassifier.Open(Attributes, new UploadedClassifierOptions("none") { MultiLabel = true, ScoresAreLogits = true }).Spec;
        Assert.Equal("4 independent label logits (sigmoid applied on the device) per row, any number of labels true", spec.Graph!.ScoresKind);
        using var served = InferenceModel.Load(Attributes, spec);
        var raw = Floats("probabilities");
        var values = served.PredictValues(Floats("rows"), 6).Values;
        Assert.All(raw.Zip(values), x => Assert.Equal(1 / (1 + Math.Exp(-x.First)), x.Second, 5));
    }

    [Fact]
    public void AManifestDeclaringAHostileMultiLabelClassifier_IsRefused()
    {
        static string Refusal(ModelArchitecture architecture) => Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(architecture)).Message;
        var multi = ModelArchitectures.From(UploadedClassifier.Open(Attributes, new UploadedClassifierOptions("all") { MultiLabel = true }).Spec, []);
        var vast = multi.Clone();
        vast.Graph.MultiLabels = 5000;
        Assert.Contains("scores 1 to 1024 labels", Refusal(vast), StringComparison.Ordinal);
        var classes = multi.Clone();
        classes.Classes = 4;
        Assert.Contains("declares no classes", Refusal(classes), StringComparison.Ordinal);
        var both = multi.Clone();
        both.Graph.RegressionTargets = 4;
        Assert.Contains("neither a single-score classifier nor a regressor", Refusal(both), StringComparison.Ordinal);
        Assert.Contains("a model is one of a regressor, a multi-label classifier, a per-position classifier or a multi-task model", Assert.Throws<InvalidDataException>(() =>
            UploadedClassifier.Open(Attributes, new UploadedClassifierOptions("none") { MultiLabel = true, Regression = true })).Message, StringComparison.Ordinal);

        // The interface is part of what is signed: a multi-label reading of a file is not its regressor reading.
        var regressor = UploadedClassifier.Open(Attributes, new UploadedClassifierOptions("all") { Regression = true }).Spec;
        Assert.NotEqual(regressor.Graph, UploadedClassifier.Open(Attributes, new UploadedClassifierOptions("all") { MultiLabel = true }).Spec.Graph);
    }
}
