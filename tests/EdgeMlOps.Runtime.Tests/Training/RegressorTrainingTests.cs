using System.Globalization;
using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A regressor exported by PyTorch (<c>export_diabetes_regressor.py</c>: an MLP trained on scikit-learn's diabetes
/// patients of one sex, predicting disease progression): served as its file, trained with mean squared error on float
/// targets by the generated train step, scored by MSE and R² — each against what PyTorch computed.
/// </summary>
public class RegressorTrainingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("diabetes_regressor_expected.json"))).RootElement;

    internal static readonly byte[] Regressor = File.ReadAllBytes(Fixture("pytorch_diabetes_regressor.onnx"));

    private static float[] Floats(string name) => [.. Expected.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];

    /// <summary>scikit-learn's diabetes data as the script wrote it: (10 features, progression / 100) per patient.</summary>
    internal static (float[] Features, float[] Targets) Diabetes()
    {
        var rows = File.ReadAllLines(Fixture("diabetes.csv")).Select(l => l.Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        return ([.. rows.SelectMany(r => r[..10])], [.. rows.Select(r => r[10])]);
    }

    [Fact]
    public void PyTorchsRegressor_IsServedAsItsFile_AndOneStepFollowsPyTorchsGradient()
    {
        var model = UploadedClassifier.Open(Regressor, new UploadedClassifierOptions("all") { Regression = true });
        var spec = model.Spec;
        Assert.True(spec.IsRegressor);
        Assert.Equal((10, 0, 1, "progression"), (spec.InputDim, spec.Classes, spec.Targets, spec.Graph!.ScoresOutput));
        Assert.Equal("one regression value per row", spec.Graph.ScoresKind);
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole

        using var served = InferenceModel.Load(Regressor, spec);
        var rows = Floats("rows");
        var values = served.PredictValues(rows, 6).Values;
        Assert.All(Floats("predictions").Zip(values), p => Assert.Equal(p.First, p.Second, 5));
        Assert.Contains("use PredictValues", Assert.Throws<InvalidOperationException>(() => served.Predict(rows, 6)).Message, StringComparison.Ordinal);

        // One SGD step over the six rows as one batch moves every parameter by −lr × PyTorch's gradient of the MSE.
        using var trainer = new TrainStepModel(model.TrainStep!, spec);
        Assert.Equal(1, trainer.TargetWidth);
        const float Lr = 0.1f;
        var initial = model.InitialWeights();
        var result = trainer.TrainTargets(initial.Values, rows, Floats("targets"), new LocalTrainingPlan(1, 6, Lr, 1));
        Assert.Equal(Expected.GetProperty("loss").GetDouble(), result.Loss, 5);
        var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, Expected);

        output.WriteLine($"one step on six patients: loss {result.Loss:F5} (PyTorch {Expected.GetProperty("loss").GetDouble():F5}), worst relative gradient error {worst:G3}");
        Assert.True(worst < 1e-3, $"the step differs from PyTorch's gradient by up to {worst:P3} (relative)");
        Assert.Contains("use TrainTargets", Assert.Throws<InvalidOperationException>(() => trainer.Train(initial.Values, rows, new long[6], new LocalTrainingPlan(1, 6, Lr, 1))).Message, StringComparison.Ordinal);
        Assert.Contains("not a finite number", Assert.Throws<ArgumentException>(() => trainer.TrainTargets(initial.Values, rows, [1, 2, float.NaN, 4, 5, 6], new LocalTrainingPlan(1, 6, Lr, 1))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheScoreOfARegressor_IsItsMeanSquaredError_AndRSquared_OnTheHeldOutPatients()
    {
        var spec = UploadedClassifier.Open(Regressor, new UploadedClassifierOptions("all") { Regression = true }).Spec;
        using var served = InferenceModel.Load(Regressor, spec);
        var (features, targets) = Diabetes();
        var heldOut = (Features: features[(332 * 10)..], Targets: targets[332..]);
        var predicted = served.PredictValues(heldOut.Features, heldOut.Targets.Length).Values;
        var mse = predicted.Zip(heldOut.Targets).Average(p => (double)(p.First - p.Second) * (p.First - p.Second));
        var mean = heldOut.Targets.Average();
        var r2 = 1 - (mse * heldOut.Targets.Length / heldOut.Targets.Sum(t => (t - mean) * (double)(t - mean)));

        var score = served.EvaluateTargets(heldOut.Features, heldOut.Targets, batchSize: 32);
        output.WriteLine($"held out (110 patients): MSE {score.Loss:F4} (the script printed 0.3507), R² {score.Accuracy:F3}");
        Assert.Equal(mse, score.Loss, 6);
        Assert.Equal(r2, score.Accuracy, 6);
        Assert.Equal(110, score.Samples);
        Assert.Equal(0.3507, score.Loss, 3);

        // By cohort: each cohort's R² is about its own mean.
        var cohorts = Enumerable.Range(0, 110).Select(i => heldOut.Features[(i * 10) + 1] > 0 ? "sex=b" : "sex=a").ToArray();
        var byCohort = served.EvaluateTargetCohorts(heldOut.Features, heldOut.Targets, cohorts);
        Assert.Equal(110, byCohort["sex=a"].Samples + byCohort["sex=b"].Samples);
        Assert.Equal(score.Loss, ((byCohort["sex=a"].Loss * byCohort["sex=a"].Samples) + (byCohort["sex=b"].Loss * byCohort["sex=b"].Samples)) / 110, 6);
    }

    [Fact]
    public void AManifestDeclaringAHostileRegressor_IsRefused()
    {
        static string Refusal(ModelArchitecture architecture) => Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(architecture)).Message;
        var regressor = ModelArchitectures.From(UploadedClassifier.Open(Regressor, new UploadedClassifierOptions("all") { Regression = true }).Spec, []);
        var vast = regressor.Clone();
        vast.Graph.RegressionTargets = 5000;
        Assert.Contains("a regressor predicts 1 to 1024 values", Refusal(vast), StringComparison.Ordinal);
        var classes = regressor.Clone();
        classes.Classes = 3;
        Assert.Contains("a regressor, multi-label, per-position classifier or multi-task model declares no classes", Refusal(classes), StringComparison.Ordinal);
        var scored = regressor.Clone();
        scored.Graph.SingleScore = true;
        Assert.Contains("a regressor's output is values", Refusal(scored), StringComparison.Ordinal);

        // Asked to be a regressor, a file's float [batch, k] output is k values (the keyword CNN's 5 scores); a missing one is named.
        var kws = File.ReadAllBytes(Fixture("pytorch_kws_1d.onnx"));
        Assert.Equal(5, UploadedClassifier.Open(kws, new UploadedClassifierOptions("none") { Regression = true }).Spec.Targets);
        Assert.Contains("the graph has no output 'nope'", Assert.Throws<InvalidDataException>(() =>
            UploadedClassifier.Open(Regressor, new UploadedClassifierOptions("none") { Regression = true, Output = "nope" })).Message, StringComparison.Ordinal);
        Assert.Contains("not logits", Assert.Throws<InvalidDataException>(() =>
            UploadedClassifier.Open(Regressor, new UploadedClassifierOptions("none") { Regression = true, ScoresAreLogits = true })).Message, StringComparison.Ordinal);
    }
}
