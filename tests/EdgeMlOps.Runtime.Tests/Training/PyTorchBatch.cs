using System.Text.Json;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// One batch of a PyTorch classifier fixture — <c>"pixels"</c>, <c>"digits"</c>, <c>"logits"</c>, <c>"loss"</c> and
/// <c>"gradients"</c> as its export script wrote them — served and stepped as PyTorch computes it.
/// </summary>
internal static class PyTorchBatch
{
    /// <summary>One step's learning rate: large enough that float32 weights resolve the step.</summary>
    public const float Lr = 0.5f;

    /// <summary>
    /// Asserts that <paramref name="served"/> labels the batch's rows as PyTorch's logits do and that one SGD step of
    /// <paramref name="trainer"/> on them has PyTorch's loss and moves every parameter by −lr × PyTorch's gradient
    /// (within 1e-3 relative); returns the weights after the step.
    /// </summary>
    public static float[] AssertServedAndStepped(UploadedClassifier model, InferenceModel served, TrainStepModel trainer, JsonElement batch, string name = "the batch")
    {
        float[] Values(string key) => [.. batch.GetProperty(key).EnumerateArray().Select(v => v.GetSingle())];
        var (pixels, logits, classes) = (Values("pixels"), Values("logits"), model.Spec.Classes);
        var rows = logits.Length / classes;
        Assert.Equal(Enumerable.Range(0, rows).Select(row => (long)logits.Skip(row * classes).Take(classes).Select((v, i) => (v, i)).Max().i), served.Predict(pixels, rows).Labels);

        var initial = model.InitialWeights();
        var result = trainer.Train(initial.Values, pixels, [.. batch.GetProperty("digits").EnumerateArray().Select(d => d.GetInt64())], new LocalTrainingPlan(1, rows, Lr, 1));
        Assert.Equal(batch.GetProperty("loss").GetDouble(), result.Loss, 4);
        var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, batch);
        Assert.True(worst < 1e-3, $"{name}: the step differs from PyTorch's gradient by up to {worst:P3} (relative)");
        return result.Weights;
    }
}
