using System.Text.Json;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Training;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A classifier exported as <c>torch.onnx.export</c> writes it when no <c>dynamic_axes</c> are given
/// (<c>export_digit_batch_one.py</c>): every axis fixed at the example's, the batch at 1, and <c>h.view(h.size(0), -1)</c>
/// folded into a Reshape to [1, −1] — the file cannot run two rows at once. It is served by running rows one at a
/// time and trained by averaging one-row steps, which for SGD and momentum is the mini-batch's step exactly.
/// </summary>
public class BatchOfOneTrainingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("digit_batch_one_expected.json"))).RootElement;

    private static readonly byte[] BatchOne = File.ReadAllBytes(Fixture("pytorch_digit_batch_one.onnx"));

    private static float[] Floats(string name) => [.. Expected.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];

    private static long[] Digits => [.. Expected.GetProperty("digits").EnumerateArray().Select(d => d.GetInt64())];

    [Fact]
    public void AFileWithItsBatchFixedAtOne_IsServedRowByRow_AsPyTorchComputesIt_TheFileUnchanged()
    {
        // The file itself takes one row: two at once are refused by ONNX Runtime.
        using (var session = new InferenceSession(BatchOne))
        {
            using var two = OrtValue.CreateTensorValueFromMemory(Floats("scans")[..128], [2, 1, 8, 8]);
            using var runOptions = new RunOptions();
            Assert.ThrowsAny<OnnxRuntimeException>(() => session.Run(runOptions, ["scan"], [two], ["logits"]).Dispose());
        }

        var model = UploadedClassifier.Open(BatchOne, new UploadedClassifierOptions("all"));
        var spec = model.Spec;
        Assert.Equal((64, 10), (spec.InputDim, spec.Classes));
        Assert.Equal([1L, 8L, 8L], spec.Graph!.SampleDims);
        Assert.Equal(ContentHash.Sha256Hex(BatchOne), ContentHash.Sha256Hex(model.InferenceBytes(model.InitialWeights()))); // version 1: the file itself

        using var served = InferenceModel.Load(BatchOne, spec);
        var batch = served.Predict(Floats("scans"), 6);
        var logits = Floats("logits");
        var (worst, clampedLoss, hits) = (0.0, 0.0, 0);
        for (var row = 0; row < 6; row++)
        {
            var scores = logits.Skip(row * 10).Take(10).ToArray();
            var total = scores.Sum(v => Math.Exp(v - scores.Max()));
            var torch = scores.Select(v => Math.Exp(v - scores.Max()) / total).ToArray();
            worst = Math.Max(worst, torch.Select((p, c) => Math.Abs(p - batch.Probabilities[(row * 10) + c])).Max());
            var label = scores.Select((v, i) => (v, i)).Max().i;
            Assert.Equal(label, (int)batch.Labels[row]);
            (clampedLoss, hits) = (clampedLoss - Math.Log(Math.Max(torch[Digits[row]], 1e-12)), hits + (label == Digits[row] ? 1 : 0));
        }

        Assert.True(worst < 1e-5, $"probabilities differ from PyTorch's by {worst}");
        var score = served.Evaluate(Floats("scans"), Digits, batchSize: 4); // batches of 4 rows and of 2, each run a row at a time
        Assert.Equal(clampedLoss / 6, score.Loss, 3); // the evaluation's cross-entropy, its probabilities float32 and floored at 1e-12
        Assert.Equal(hits / 6.0, score.Accuracy);
    }

    [Fact]
    public void AFileWithItsBatchFixedAtOne_TrainsAMiniBatchStep_AsPyTorchsGradientOfTheBatch()
    {
        var model = UploadedClassifier.Open(BatchOne, new UploadedClassifierOptions("all"));
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        var initial = model.InitialWeights();
        const float Lr = 0.5f; // large enough that float32 weights resolve the step
        var result = trainer.Train(initial.Values, Floats("scans"), Digits, new LocalTrainingPlan(1, 6, Lr, 1));
        Assert.Equal(Expected.GetProperty("loss").GetDouble(), result.Loss, 3);
        Assert.Equal(1, result.Steps); // one step on the six rows, not six steps
        var worstGradient = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, Expected);
        output.WriteLine($"one step on 6 rows, a row at a time: loss {result.Loss:F5} (PyTorch {Expected.GetProperty("loss").GetDouble():F5}), worst relative gradient error {worstGradient:G3}");
        Assert.True(worstGradient < 1e-3, $"the step differs from PyTorch's gradient of the batch by up to {worstGradient:P3} (relative)");
    }

    [Theory]
    [InlineData(DeviceOptimizer.Momentum, "momentumWeights", 2, 0.05f, 1e-4)] // torch.optim.SGD(momentum=0.9)
    [InlineData(DeviceOptimizer.Adam, "adamWeights", 3, 0.01f, 1e-4)] // torch.optim.Adam: not the mean of one-row Adam steps
    public void FullBatchSteps_AreTorchsOptimizer(DeviceOptimizer optimizer, string expected, int steps, float lr, double tolerance)
    {
        var model = UploadedClassifier.Open(BatchOne, new UploadedClassifierOptions("all") { Optimizer = optimizer });
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        Assert.Equal(optimizer, trainer.Optimizer);
        var initial = model.InitialWeights();
        var result = trainer.Train(initial.Values, Floats("scans"), Digits, new LocalTrainingPlan(steps, 6, lr, 1)); // full-batch steps
        Assert.Equal(steps, result.Steps);
        var (worst, moved) = (0.0, 0.0);
        foreach (var tensor in initial.Layout.Tensors)
        {
            var torch = Expected.GetProperty(expected).GetProperty(tensor.Name).EnumerateArray().Select(v => v.GetDouble()).ToArray();
            for (var i = 0; i < tensor.Length; i++)
            {
                worst = Math.Max(worst, Math.Abs(result.Weights[tensor.Offset + i] - torch[i]));
                moved = Math.Max(moved, Math.Abs(torch[i] - initial.Values[tensor.Offset + i]));
            }
        }

        output.WriteLine($"{steps} {optimizer} steps: worst distance from PyTorch's weights {worst:G3} (PyTorch moved a weight by up to {moved:G3})");
        Assert.True(worst < tolerance, $"the weights differ from PyTorch's by up to {worst}");
    }

    [Fact]
    public void OtherFixedBatches_AreRefusedNamingTheFix()
    {
        var four = ClassifierGraphs.Parse(BatchOne);
        four.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimValue = 4;
        var refused = Assert.Throws<InvalidDataException>(() => UploadedClassifier.Open(four.ToByteArray(), new UploadedClassifierOptions("all")));
        Assert.Contains("input 'scan' has a fixed batch of 4; export it with a dynamic batch axis (or with a batch of 1, which devices run one row at a time)", refused.Message, StringComparison.Ordinal);
    }
}
