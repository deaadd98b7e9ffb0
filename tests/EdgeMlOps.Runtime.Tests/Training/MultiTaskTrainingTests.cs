using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Training;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A loss over several outputs at once: PyTorch's two-headed digit model (<c>export_digit_completion.py</c>: a scan's
/// upper half in, the digit's logits and the lower half [batch, 4, 8] out) declared a multi-task model — the digit a
/// classifier task, the lower half a regression task at half weight —, served, scored and trained as PyTorch's
/// autograd computes the same weighted loss (<c>export_digit_multitask.py</c>): the trunk gets both heads' gradients.
/// </summary>
public class MultiTaskTrainingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("digit_multitask_expected.json"))).RootElement;

    private static readonly byte[] Completion = File.ReadAllBytes(Fixture("pytorch_digit_completion.onnx"));

    private static readonly UploadedClassifierOptions Declared = new("all") { Tasks = ModelTask.Parse("digit:classes,bottom:regression:0.5") };

    private static float[] Floats(string name) => [.. Expected.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];

    /// <summary>Each scan's ground truth as a device keeps it: its digit, then its lower half row-major.</summary>
    private static float[] Targets()
    {
        var (digits, bottoms) = (Floats("digits"), Floats("bottoms"));
        return [.. digits.SelectMany((d, i) => bottoms.Skip(i * 32).Take(32).Prepend(d))];
    }

    [Fact]
    public void BothOutputs_AreServedScoredAndTrainedTogether_AsPyTorchComputesTheWeightedLoss()
    {
        var model = UploadedClassifier.Open(Completion, Declared);
        var spec = model.Spec;
        Assert.True(spec.IsMultiTask);
        Assert.Equal((32, 33, 0, "digit"), (spec.InputDim, spec.Targets, spec.Classes, spec.Graph!.ScoresOutput));
        Assert.Equal(["digit:classes", "bottom:regression:0.5"], spec.Graph.Tasks.Select(t => t.Declaration));
        Assert.Equal([10L, 0L], spec.Graph.Tasks.Select(t => (long)t.Classes));
        Assert.Equal([4L, 8L], spec.Graph.Tasks[1].Dims); // declared [batch, Reshapebottom_dim_1, Reshapebottom_dim_2] by the exporter
        Assert.True(spec.Graph.Tasks[0].Logits);
        Assert.Equal("accuracy of 'digit'", spec.AccuracyName);
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole

        // Served: the digit PyTorch's logits pick, then the 32 values of the lower half.
        using var served = InferenceModel.Load(Completion, spec);
        var top = Floats("top");
        const int Rows = 8;
        var values = served.PredictValues(top, Rows).Values;
        var (logits, bottom) = (Floats("digit"), Floats("bottom"));
        for (var row = 0; row < Rows; row++)
        {
            var answer = values.AsSpan(row * 33, 33);
            Assert.Equal(logits.Skip(row * 10).Take(10).Select((v, i) => (v, i)).Max().i, (int)answer[0]);
            var worst = bottom.Skip(row * 32).Take(32).Zip(answer[1..].ToArray()).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(worst < 1e-4, $"row {row}: the lower half differs from PyTorch's by up to {worst}");
        }

        // Scored: the weighted loss (cross-entropy + 0.5 × MSE) as PyTorch's, and the digit's accuracy as its score.
        var score = served.EvaluateTargets(top, Targets());
        Assert.Equal(Expected.GetProperty("loss").GetDouble(), score.Loss, 3);
        var right = Floats("digits").Select((d, row) => logits.Skip(row * 10).Take(10).Select((v, i) => (v, i)).Max().i == (int)d).Count(r => r);
        Assert.Equal((double)right / Rows, score.Accuracy, 6);

        // Trained: one SGD step over the eight scans moves every parameter by −lr × PyTorch's gradient of the weighted
        // loss — the trunk by the sum of both heads' — within 1e-3 relative.
        using var trainer = new TrainStepModel(model.TrainStep!, spec);
        Assert.Equal(33, trainer.TargetWidth);
        Assert.Equal(["classify.bias", "classify.weight", "complete.bias", "complete.weight", "trunk.bias", "trunk.weight"], model.InitialWeights().Layout.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        const float Lr = 0.5f;
        var initial = model.InitialWeights();
        var result = trainer.TrainTargets(initial.Values, top, Targets(), new LocalTrainingPlan(1, Rows, Lr, 1));
        Assert.Equal(Expected.GetProperty("loss").GetDouble(), result.Loss, 3);
        Assert.Equal((double)right / Rows, result.Accuracy, 6); // the step counts the digit's hits per row
        var worstGradient = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, Expected);
        output.WriteLine($"weighted loss {result.Loss:F5} (PyTorch {Expected.GetProperty("loss").GetDouble():F5}); worst relative gradient error {worstGradient:G3}");
        Assert.True(worstGradient < 1e-3, $"the step differs from PyTorch's gradient by up to {worstGradient:P3} (relative)");
    }

    /// <summary>
    /// A classifier task beside a multi-label task (<c>export_digit_multilabel_task.py</c>: the digit's logits and four
    /// attributes' sigmoid probabilities over one trunk), trained on cross-entropy plus half the binary cross-entropy.
    /// </summary>
    [Fact]
    public void AClassifierTaskBesideAMultiLabelTask_IsServedScoredAndTrained_AsPyTorchComputesThem()
    {
        var expected = JsonDocument.Parse(File.ReadAllText(Fixture("digit_two_heads_expected.json"))).RootElement;
        float[] Values(string name) => [.. expected.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_two_heads.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Tasks = ModelTask.Parse("digit:classes,attributes:labels:0.5") });
        var spec = model.Spec;
        Assert.Equal((64, 5), (spec.InputDim, spec.Targets));
        Assert.Equal((ModelTaskKind.Labels, 4, false), (spec.Graph!.Tasks[1].Kind, spec.Graph.Tasks[1].Labels, spec.Graph.Tasks[1].Logits)); // a Sigmoid makes its probabilities
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, [])));

        const int Rows = 8;
        var (pixels, digits, attributes) = (Values("pixels"), Values("digits"), Values("attributes"));
        float[] targets = [.. digits.SelectMany((d, i) => attributes.Skip(i * 4).Take(4).Prepend(d))];
        using var served = InferenceModel.Load(bytes, spec);
        var values = served.PredictValues(pixels, Rows).Values;
        var (logits, probabilities) = (Values("digit"), Values("probabilities"));
        for (var row = 0; row < Rows; row++)
        {
            Assert.Equal(logits.Skip(row * 10).Take(10).Select((v, i) => (v, i)).Max().i, (int)values[row * 5]);
            Assert.All(probabilities.Skip(row * 4).Take(4).Zip(values.Skip((row * 5) + 1).Take(4)), p => Assert.Equal(p.First, p.Second, 5));
        }

        Assert.Equal(expected.GetProperty("loss").GetDouble(), served.EvaluateTargets(pixels, targets).Loss, 4);
        var bad = (float[])targets.Clone();
        bad[2] = 0.5f; // the first scan's second attribute: a label is 0 or 1
        Assert.Contains("target[2] is 0.5: task 'attributes' takes 0 or 1 per label", Assert.Throws<ArgumentException>(() => served.EvaluateTargets(pixels, bad)).Message, StringComparison.Ordinal);

        using var trainer = new TrainStepModel(model.TrainStep!, spec);
        var initial = model.InitialWeights();
        const float Lr = 0.5f;
        var result = trainer.TrainTargets(initial.Values, pixels, targets, new LocalTrainingPlan(1, Rows, Lr, 1));
        Assert.Equal(expected.GetProperty("loss").GetDouble(), result.Loss, 3);
        var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, expected);
        output.WriteLine($"classes and labels: loss {result.Loss:F5} (PyTorch {expected.GetProperty("loss").GetDouble():F5}); worst relative gradient error {worst:G3}");
        Assert.True(worst < 1e-3, $"the step differs from PyTorch's gradient by up to {worst:P3} (relative)");
    }

    [Fact]
    public void EachTasksWeight_ScalesItsShareOfTheStep()
    {
        // The same step with the lower half at weight 0.5 and at 1: the digit head (reached by the classifier task
        // alone) moves the same, the completion head twice as far at twice the weight.
        var half = UploadedClassifier.Open(Completion, Declared);
        var full = UploadedClassifier.Open(Completion, new UploadedClassifierOptions("all") { Tasks = ModelTask.Parse("digit:classes,bottom:regression") });
        float[] Step(UploadedClassifier model)
        {
            using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
            var initial = model.InitialWeights();
            var after = trainer.TrainTargets(initial.Values, Floats("top"), Targets(), new LocalTrainingPlan(1, 8, 0.05f, 1)).Weights;
            return [.. initial.Values.Zip(after, (a, b) => a - b)];
        }

        var (moveHalf, moveFull) = (Step(half), Step(full));
        var layout = half.InitialWeights().Layout;
        var classify = layout.Tensors.Single(t => t.Name == "classify.weight");
        var complete = layout.Tensors.Single(t => t.Name == "complete.weight");
        for (var i = 0; i < classify.Length; i += 7) Assert.Equal(moveHalf[classify.Offset + i], moveFull[classify.Offset + i], 6);
        for (var i = 0; i < complete.Length; i += 7) Assert.Equal(2 * moveHalf[complete.Offset + i], moveFull[complete.Offset + i], 4);
    }

    [Fact]
    public void DeclarationsTheGraphCannotTake_AndManifestsNoDeviceCouldRun_AreRefused()
    {
        static string Refused(string tasks) => Assert.ThrowsAny<Exception>(() => UploadedClassifier.Open(Completion, new UploadedClassifierOptions("all") { Tasks = ModelTask.Parse(tasks) })).Message;
        var refusal = Refused("bottom:classes,digit:regression");
        output.WriteLine(refusal);
        Assert.Contains("class scores must be float [batch, classes ≥ 2]", refusal, StringComparison.Ordinal);
        Assert.Contains("the graph has no output 'box'", Refused("digit:classes,box:regression"), StringComparison.Ordinal);
        Assert.Contains("a multi-task model trains 2 to 8 outputs", Assert.Throws<ArgumentException>(() => ModelTask.Parse("digit:classes")).Message, StringComparison.Ordinal);
        Assert.Contains("an output is named twice", Assert.Throws<ArgumentException>(() => ModelTask.Parse("digit:classes,digit:regression")).Message, StringComparison.Ordinal);
        Assert.Contains("the weight must be a number above 0", Assert.Throws<ArgumentException>(() => ModelTask.Parse("digit:classes,bottom:regression:-1")).Message, StringComparison.Ordinal);
        Assert.Contains("names its outputs in its tasks", Assert.Throws<InvalidDataException>(() =>
            UploadedClassifier.Open(Completion, Declared with { Output = "digit" })).Message, StringComparison.Ordinal);
        Assert.Contains("a multi-task model", Assert.Throws<InvalidDataException>(() =>
            UploadedClassifier.Open(Completion, Declared with { Regression = true })).Message, StringComparison.Ordinal);

        // Only the completion head trainable: the digit task's loss reaches no trained parameter, which is named.
        Assert.Contains("no trainable parameter influences", Assert.Throws<NotDifferentiableException>(() =>
            UploadedClassifier.Open(Completion, Declared with { Trainable = "complete.weight,complete.bias" })).Message, StringComparison.Ordinal);

        static string Manifest(Action<ModelArchitecture> edit)
        {
            var signed = ModelArchitectures.From(UploadedClassifier.Open(Completion, Declared).Spec, []);
            edit(signed);
            return Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(signed)).Message;
        }

        Assert.Contains("a classifier task scores 2 to", Manifest(a => a.Graph.Tasks[0].Classes = 1), StringComparison.Ordinal);
        Assert.Contains("its weight must be above 0", Manifest(a => a.Graph.Tasks[1].Weight = float.NaN), StringComparison.Ordinal);
        Assert.Contains("its first task's", Manifest(a => a.Graph.ScoresOutput = "bottom"), StringComparison.Ordinal);
        Assert.Contains("declares no classes", Manifest(a => a.Classes = 10), StringComparison.Ordinal);
        Assert.Contains("2 to 8 outputs", Manifest(a => a.Graph.Tasks.RemoveAt(1)), StringComparison.Ordinal);
    }

    [Fact]
    public void GroundTruthWhoseClassIsNotOneOfTheTasks_IsRefusedByTheScore()
    {
        var spec = UploadedClassifier.Open(Completion, Declared with { Trainable = "none" }).Spec;
        using var served = InferenceModel.Load(Completion, spec);
        var targets = Targets();
        targets[33] = 10; // the second scan's digit: not one of 0–9
        Assert.Contains("row 1: target[0] is 10: task 'digit' takes a class id (0 to 9)", Assert.Throws<ArgumentException>(() => served.EvaluateTargets(Floats("top"), targets)).Message, StringComparison.Ordinal);
        Assert.Equal(1.0, spec.RowError(new float[33], [1, .. new float[32]]) * 1.5, 6); // the digit wrong, the half right: weight 1 of 1.5
    }
}
