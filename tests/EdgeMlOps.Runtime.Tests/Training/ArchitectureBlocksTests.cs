using System.Text.Json;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// The blocks of widely used architectures exported by PyTorch (<c>export_pytorch_blocks.py</c>): a ResNet block that
/// downsamples (stride-2 Conv with padding on an even input, a strided 1×1 shortcut, the residual sum), a ConvNeXt
/// block (7×7 depthwise Conv, channels-last LayerNorm and MLP, layer scale), a causal dilated temporal-convolution
/// block (left padding, dilated Conv1d, residual projection), PyTorch's own TransformerEncoderLayer, GroupNorm, a U-Net
/// level (nearest upsampling, skip concatenation), a feature-pyramid level (bilinear and bicubic upsampling, a
/// bilinear resize to a fractional size), a sub-pixel block (PixelShuffle, strided and flipped slices, Mish) and a
/// metric-learning embedding (einsum attention, cumsum, topk, gather, F.normalize, repeat, logsumexp) and an
/// image-to-image style block (reflection and replication padding, tril, an index assignment) and orientation-style
/// features (LPPool2d, a product over positions, atan, asin, tan, a phase wrapped by fmod), and a scripted model's
/// control flow (a for loop over the rows and an if on a shape: Loop and If). Each is served
/// as PyTorch computed, and one step moves every one of its tensors along PyTorch's autograd gradient.
/// </summary>
public class ArchitectureBlocksTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    [Theory]
    [InlineData("resnet", 8, 64)]
    [InlineData("convnext", 13, 64)]
    [InlineData("tcn", 8, 64)]
    [InlineData("attention", 16, 64)]
    [InlineData("groupnorm", 10, 64)]
    [InlineData("unet", 8, 64)]
    [InlineData("pyramid", 8, 64)]
    [InlineData("subpixel", 6, 64)]
    [InlineData("embedding", 8, 64)]
    [InlineData("reflect", 7, 64)]
    [InlineData("angles", 4, 64)]
    [InlineData("scripted", 8, 64)] // torch.jit.script: a Loop and an If, unrolled for the train step
    [InlineData("pyramid", 8, 64, "pytorch_block_pyramid_opset11.onnx")] // exported at opset 11: lifted to 13 for the train step
    [InlineData("subpixel", 6, 64, "pytorch_block_subpixel_opset11.onnx")]
    public void ABlock_IsServedAsPyTorchComputed_AndEveryTensorFollowsPyTorchsGradient(string key, int tensors, int inputs, string? file = null)
    {
        var bytes = File.ReadAllBytes(Fixture(file ?? $"pytorch_block_{key}.onnx"));
        var uploaded = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all"));
        Assert.Equal((inputs, 10, tensors), (uploaded.Spec.InputDim, uploaded.Spec.Classes, uploaded.Spec.Graph!.Trained.Count));
        using var json = JsonDocument.Parse(File.ReadAllText(Fixture("pytorch_blocks_expected.json")));
        var expected = json.RootElement.GetProperty(key);
        var pixels = expected.GetProperty("pixels").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        var labels = expected.GetProperty("labels").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var logits = expected.GetProperty("logits").EnumerateArray().Select(e => e.GetDouble()).ToArray();

        using var model = InferenceModel.Load(bytes, uploaded.Spec);
        PyTorchLogits.AssertSoftmax(logits, model.Predict(pixels, labels.Length).Probabilities, classes: 10);

        UploadedClassifierTests.OneSgdStepFollowsPyTorch(uploaded, pixels, labels, expected);
    }
}
