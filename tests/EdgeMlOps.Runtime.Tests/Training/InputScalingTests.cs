using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// Device-side preprocessing declared with the interface: a colour-image scorer exported by PyTorch without its
/// normalization (torchvision's <c>Normalize</c> lived in the data pipeline, <c>export_color_scorer.py</c>) answers raw
/// images as PyTorch answered them normalized, once the device declares that scaling; the file is unchanged.
/// </summary>
public class InputScalingTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("color_scorer_expected.json"))).RootElement;

    private static float[] Floats(string name) => [.. Expected.GetProperty(name).EnumerateArray().Select(e => e.GetSingle())];

    private static InputScaling ImageNet => new("image", 1, Floats("mean"), Floats("std"));

    [Fact]
    public void RawImages_AreNormalizedOnTheDevice_PerChannel_AndAnswerAsPyTorchOnTheNormalizedOnes()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_color_scorer.onnx"));
        var scaled = UploadedClassifier.OpenTensors(bytes, [], scalings: [ImageNet]);
        Assert.Equal(bytes, scaled.InferenceBytes(scaled.InitialWeights())); // the file is served as uploaded
        var raw = new NamedTensor("image", TensorElement.Float, [2, 3, 16, 16], Floats("images"));
        var before = (float[])raw.Data.Clone();

        using var model = InferenceModel.Load(bytes, scaled.Spec);
        var score = (float[])model.Run([raw])[0].Data;
        Assert.Equal(Floats("score"), score, (a, b) => Math.Abs(a - b) < 1e-5);
        Assert.Equal(before, (float[])raw.Data); // the caller's values are not changed in place

        // Without the declaration the same raw images give what PyTorch gives on them unnormalized: the scaling is what differs.
        using var plain = InferenceModel.Load(bytes, UploadedClassifier.OpenTensors(bytes, []).Spec);
        Assert.Equal(Floats("scoreWithoutScaling"), (float[])plain.Run([raw])[0].Data, (a, b) => Math.Abs(a - b) < 1e-5);
        Assert.NotEqual(plain.Spec.ToString(), model.Spec.ToString()); // the declaration is part of the signed spec
    }

    [Fact]
    public void OneMeanAndDeviation_ScaleEveryValue_OfADoubleInputToo()
    {
        var scaling = new InputScaling("x", -1, [10f], [4f]);
        Assert.Equal([0.0, 2.5, -2.5], scaling.Apply(new[] { 10.0, 20.0, 0.0 }, [3]));
        var perColumn = new InputScaling("x", 1, [1f, 2f], [1f, 2f]);
        Assert.Equal([0f, 0f, 1f, 1f], perColumn.Apply(new[] { 1f, 2f, 2f, 4f }, [2, 2]));
    }

    [Fact]
    public void AScalingThatDoesNotFit_IsRefused_AndAHostileOneInAManifestToo()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_color_scorer.onnx"));
        string Refusal(InputScaling s) => Assert.Throws<InvalidDataException>(() => UploadedClassifier.OpenTensors(bytes, [], scalings: [s])).Message;
        Assert.Contains("3 pairs along axis 2", Refusal(new InputScaling("image", 2, [0.5f, 0.5f, 0.5f], [1f, 1f, 1f])), StringComparison.Ordinal); // axis 2 is 16 wide
        Assert.Contains("that axis must be fixed at 3", Refusal(new InputScaling("image", 0, [0.5f, 0.5f, 0.5f], [1f, 1f, 1f])), StringComparison.Ordinal); // the batch axis is chosen
        Assert.Contains("names no input 'pixels'", Refusal(new InputScaling("pixels", -1, [0f], [1f])), StringComparison.Ordinal);
        Assert.Contains("positive finite deviations", Assert.Throws<ArgumentException>(() => new InputScaling("image", 1, [0f, 0f, 0f], [1f, 0f, 1f])).Message, StringComparison.Ordinal);
        var regressor = File.ReadAllBytes(Fixture("mixed_inputs_regressor.onnx"));
        Assert.Contains("needs a float or double input; it is int64", Assert.Throws<InvalidDataException>(() => UploadedClassifier.OpenTensors(regressor, [], scalings: [new InputScaling("count", -1, [0f], [1f])])).Message, StringComparison.Ordinal);

        var spec = UploadedClassifier.OpenTensors(bytes, [], scalings: [ImageNet]).Spec;
        var architecture = ModelArchitectures.From(spec, []);
        Assert.Equal(spec, ModelArchitectures.ToSpec(architecture));
        Assert.Equal([ImageNet], ModelArchitectures.ToSpec(architecture).Graph!.Tensors!.Scalings);
        var zero = architecture.Clone();
        zero.Graph.Tensors.Scalings[0].Std[1] = 0;
        Assert.Contains("positive finite deviations", Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(zero)).Message, StringComparison.Ordinal);
        var twice = architecture.Clone();
        twice.Graph.Tensors.Scalings.Add(twice.Graph.Tensors.Scalings[0].Clone());
        Assert.Contains("scaled twice", Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(twice)).Message, StringComparison.Ordinal);
    }
}
