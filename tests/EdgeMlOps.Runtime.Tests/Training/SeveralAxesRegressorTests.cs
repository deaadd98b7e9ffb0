using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A model with two outputs exported by PyTorch (<c>export_digit_completion.py</c>: a digit scan's upper half in, the
/// digit's logits and the lower half [batch, 4, 8] out), declared a regressor on its second output: served and trained
/// on that one output, whose targets are shaped like it — the axes PyTorch's exporter left symbolic are read from the
/// graph, signed in the manifest, and the other output is left out.
/// </summary>
public class SeveralAxesRegressorTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("digit_completion_expected.json"))).RootElement;

    private static readonly byte[] Completion = File.ReadAllBytes(Fixture("pytorch_digit_completion.onnx"));

    private const string Trunk = "trunk.weight,trunk.bias,complete.weight,complete.bias";

    private static float[] Floats(string name) => [.. Expected.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];

    [Fact]
    public void ItsLowerHalfOutput_IsServedAndTrained_AsPyTorchComputesIt()
    {
        var model = UploadedClassifier.Open(Completion, new UploadedClassifierOptions(Trunk) { Regression = true, Output = "bottom" });
        var spec = model.Spec;
        Assert.Equal((32, 32, "bottom"), (spec.InputDim, spec.Targets, spec.Graph!.ScoresOutput));
        Assert.Equal([4L, 8L], spec.Graph.ValuesDims); // declared [batch, Reshapebottom_dim_1, Reshapebottom_dim_2] by the exporter
        Assert.Equal("32 regression values per row, [4, 8] row-major", spec.Graph.ScoresKind);
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole

        using var served = InferenceModel.Load(Completion, spec);
        var top = Floats("top");
        var values = served.PredictValues(top, 6).Values;
        var worstServed = Floats("bottom").Zip(values).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(worstServed < 1e-4, $"served values differ from PyTorch's by up to {worstServed}");

        // One SGD step over the six scans as one batch moves the trunk and the completion head by −lr × PyTorch's
        // gradient of the MSE on 'bottom'; the digit head is not trained (it does not reach the loss).
        using var trainer = new TrainStepModel(model.TrainStep!, spec);
        Assert.Equal(32, trainer.TargetWidth);
        Assert.Equal(["trunk.weight", "trunk.bias", "complete.weight", "complete.bias"], model.InitialWeights().Layout.Tensors.Select(t => t.Name));
        const float Lr = 0.5f;
        var initial = model.InitialWeights();
        var result = trainer.TrainTargets(initial.Values, top, Floats("targets"), new LocalTrainingPlan(1, 6, Lr, 1));
        Assert.Equal(Expected.GetProperty("loss").GetDouble(), result.Loss, 3);
        var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, Expected);
        output.WriteLine($"served values within {worstServed:G3} of PyTorch's; one step on six scans: loss {result.Loss:F5} (PyTorch {Expected.GetProperty("loss").GetDouble():F5}), worst relative gradient error {worst:G3}");
        Assert.True(worst < 1e-3, $"the step differs from PyTorch's gradient by up to {worst:P3} (relative)");
    }

    [Fact]
    public void TheOtherOutput_IsNeverTheOneTrained_UnlessNamed_AndShapesTheMeaningCannotTake_AreRefused()
    {
        // Unnamed, a regressor is read from the first float [batch, k] output (here the digit's 10 logits): naming the one meant is the operator's choice.
        Assert.Equal(("digit", 10), (UploadedClassifier.Open(Completion, new UploadedClassifierOptions("none") { Regression = true }).Spec.Graph!.ScoresOutput,
            UploadedClassifier.Open(Completion, new UploadedClassifierOptions("none") { Regression = true }).Spec.Targets));
        Assert.Contains("a multi-label classifier's scores must be float [batch, k]", Assert.Throws<InvalidDataException>(() =>
            UploadedClassifier.Open(Completion, new UploadedClassifierOptions("none") { MultiLabel = true, Output = "bottom" })).Message, StringComparison.Ordinal);

        // The same values flat ([batch, 32]) are another interface: 32 values, no axes.
        var flat = UploadedClassifier.Open(File.ReadAllBytes(Fixture("pytorch_digit_completion_flat.onnx")), new UploadedClassifierOptions("none") { Regression = true, Output = "bottom" }).Spec;
        Assert.Equal((32, 0), (flat.Targets, flat.Graph!.ValuesDims.Count));
        var shaped = UploadedClassifier.Open(Completion, new UploadedClassifierOptions("none") { Regression = true, Output = "bottom" }).Spec;
        Assert.NotEqual(flat.Graph.CanonicalText.Replace(flat.Graph.SourceSha256, string.Empty, StringComparison.Ordinal),
            shaped.Graph!.CanonicalText.Replace(shaped.Graph.SourceSha256, string.Empty, StringComparison.Ordinal));
    }

    [Fact]
    public void AManifestDeclaringAxesThatAreNotTheValues_IsRefused()
    {
        static string Refusal(ModelArchitecture architecture) => Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(architecture)).Message;
        var signed = ModelArchitectures.From(UploadedClassifier.Open(Completion, new UploadedClassifierOptions(Trunk) { Regression = true, Output = "bottom" }).Spec, []);
        var wrongProduct = signed.Clone();
        wrongProduct.Graph.ValuesDims[1] = 9;
        Assert.Contains("values dims [4, 9] are a regressor's 32 values", Refusal(wrongProduct), StringComparison.Ordinal);
        var tooDeep = signed.Clone();
        tooDeep.Graph.ValuesDims.Clear();
        tooDeep.Graph.ValuesDims.Add(Enumerable.Repeat(1L, 9));
        Assert.Contains("at most 8 fixed, positive axes", Refusal(tooDeep), StringComparison.Ordinal);
        var negative = signed.Clone();
        negative.Graph.ValuesDims[0] = -4;
        Assert.Contains("at most 8 fixed, positive axes", Refusal(negative), StringComparison.Ordinal);

        var classifier = ModelArchitectures.From(UploadedClassifier.Open(File.ReadAllBytes(Fixture("pytorch_cnn_digits04.onnx")), new UploadedClassifierOptions("last:1")).Spec, []);
        classifier.Graph.ValuesDims.Add([2, 5]);
        Assert.Contains("values dims [2, 5] are a regressor's 0 values", Refusal(classifier), StringComparison.Ordinal);
    }
}
