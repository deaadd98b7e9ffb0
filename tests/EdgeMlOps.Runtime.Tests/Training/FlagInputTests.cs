using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A bool context input (<c>export_masked_readings.py</c>: sensor readings and a mask of which are valid, combined by
/// torch.where): the mask is kept in sample rows as 0 and 1 and fed as bool; the model is served as PyTorch computed,
/// one train step follows PyTorch's gradient, and a value that is not a flag is refused naming the input.
/// </summary>
public class FlagInputTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    [Fact]
    public void ABoolMask_IsAContextInput_FedAsFlags_ServedAndTrainedAsPyTorchComputed()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_masked_readings.onnx"));
        var uploaded = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Input = "readings" });
        var graph = uploaded.Spec.Graph!;
        Assert.Equal([new TensorSignature("valid", TensorElement.Bool, [8])], graph.ContextInputs);
        Assert.Equal(["readings:0+8:Float", "valid:8+8:Bool"], graph.SampleSpans().Select(s => $"{s.Name}:{s.Offset}+{s.Length}:{s.Element}"));
        Assert.Equal(uploaded.Spec, ModelArchitectures.ToSpec(ModelArchitectures.From(uploaded.Spec, []))); // signed and read back whole

        using var json = JsonDocument.Parse(File.ReadAllText(Fixture("masked_readings_expected.json")));
        var expected = json.RootElement;
        float[] Floats(string name) => [.. expected.GetProperty(name).EnumerateArray().Select(e => (float)e.GetDouble())];
        var (readings, valid) = (Floats("readings"), Floats("valid"));
        var rows = Enumerable.Range(0, 6).SelectMany(r => readings.AsSpan(r * 8, 8).ToArray().Concat(valid.AsSpan(r * 8, 8).ToArray())).ToArray();
        var labels = expected.GetProperty("labels").EnumerateArray().Select(e => e.GetInt64()).ToArray();

        using var model = InferenceModel.Load(bytes, uploaded.Spec);
        var probabilities = Floats("probabilities");
        var served = model.Predict(rows, 6).Probabilities;
        for (var i = 0; i < probabilities.Length; i++) Assert.Equal(probabilities[i], served[i], 1e-5);

        // The mask matters: marking valid a non-zero reading the mask hid changes that row's answer.
        var hidden = Enumerable.Range(0, 48).First(i => valid[i] == 0 && readings[i] != 0);
        var unmasked = rows.ToArray();
        unmasked[(hidden / 8 * 16) + 8 + (hidden % 8)] = 1f;
        Assert.NotEqual(served[hidden / 8 * 3], model.Predict(unmasked, 6).Probabilities[hidden / 8 * 3]);

        UploadedClassifierTests.OneSgdStepFollowsPyTorch(uploaded, rows, labels, expected);

        var notAFlag = rows.ToArray();
        notAFlag[16 + 8 + 3] = 0.5f; // the second row's fourth flag
        var refused = Assert.Throws<ArgumentException>(() => model.Predict(notAFlag, 6));
        Assert.Contains("not a flag (0 or 1) for input 'valid'", refused.Message, StringComparison.Ordinal);
    }
}
