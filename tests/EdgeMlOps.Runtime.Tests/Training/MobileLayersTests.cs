using System.Text.Json;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// Models exported by PyTorch with the layers mobile and anomaly-detection models use beyond plain CNNs
/// (<c>export_pytorch_mobile.py</c>): Hardswish, a depthwise Conv with PReLU, a squeeze-and-excitation gate with
/// Hardsigmoid, channel chunks swapped (Slice, Concat), ELU, a max over the image, a leaky gate by torch.where; and
/// a convolutional autoencoder decoding with ConvTranspose. Each is served as PyTorch computed and one step moves
/// every tensor along PyTorch's autograd gradient.
/// </summary>
public class MobileLayersTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static JsonElement Expected(string key)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Fixture("pytorch_mobile_expected.json")));
        return json.RootElement.GetProperty(key).Clone();
    }

    private static float[] Floats(JsonElement expected, string name) => [.. expected.GetProperty(name).EnumerateArray().Select(e => (float)e.GetDouble())];

    [Fact]
    public void AMobileStyleClassifier_IsServedAsPyTorchComputed_AndEveryTensorFollowsPyTorchsGradient()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_mobile_digits.onnx"));
        var uploaded = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all"));
        Assert.Equal(13, uploaded.Spec.Graph!.Trained.Count);
        Assert.Contains("prelu.weight", uploaded.Spec.Graph.Trained.Select(t => t.Name));
        var expected = Expected("mobile");
        var pixels = Floats(expected, "pixels");
        var labels = expected.GetProperty("labels").EnumerateArray().Select(e => e.GetInt64()).ToArray();

        using var model = InferenceModel.Load(bytes, uploaded.Spec);
        PyTorchLogits.AssertSoftmax([.. Floats(expected, "outputs").Select(v => (double)v)], model.Predict(pixels, labels.Length).Probabilities, classes: 10);

        UploadedClassifierTests.OneSgdStepFollowsPyTorch(uploaded, pixels, labels, expected);
    }

    [Fact]
    public void AConvolutionalAutoencoder_ReconstructsAsPyTorchComputed_AndEveryTensorFollowsPyTorchsGradient()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_conv_autoencoder.onnx"));
        var uploaded = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Regression = true });
        Assert.Equal((64, 64, 8), (uploaded.Spec.InputDim, uploaded.Spec.Targets, uploaded.Spec.Graph!.Trained.Count));
        var expected = Expected("autoencoder");
        var pixels = Floats(expected, "pixels");

        using var model = InferenceModel.Load(bytes, uploaded.Spec);
        var reconstruction = model.PredictValues(pixels, 6).Values;
        Assert.All(Floats(expected, "outputs").Zip(reconstruction), p => Assert.Equal(p.First, p.Second, 1e-3));

        // An autoencoder's targets are its inputs: one SGD step on the six scans against themselves.
        using var trainer = new TrainStepModel(uploaded.TrainStep!, uploaded.Spec);
        const float Lr = 1f; // large enough that w − w' is not lost to float32 rounding of w
        var initial = uploaded.InitialWeights();
        var result = trainer.TrainTargets(initial.Values, pixels, pixels, new LocalTrainingPlan(1, 6, Lr, 1));
        Assert.Equal(expected.GetProperty("loss").GetDouble(), result.Loss, 2);
        var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, expected);
        output.WriteLine($"one step: loss {result.Loss:F4} (PyTorch {expected.GetProperty("loss").GetDouble():F4}), worst relative gradient error {worst:G3}");
        Assert.True(worst < 1e-3, $"the step differs from PyTorch's gradient by up to {worst:P3} (relative)");
    }
}
