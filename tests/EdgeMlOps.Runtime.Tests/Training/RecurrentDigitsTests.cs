using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// Recurrent classifiers exported by PyTorch (<c>export_pytorch_recurrent.py</c>) over scikit-learn's digit scans read
/// row by row as 8 steps of 8 pixels: a GRU and a bidirectional LSTM, their gates reordered by the exporter's
/// Slice/Concat nodes and their initial state built from the batch size. Served as PyTorch computed; trained by a
/// step that unrolls the recurrent node, every tensor along PyTorch's autograd gradient; the GRU, trained on digits 0–4
/// only, fine-tuned by FedAvg on all ten.
/// </summary>
public class RecurrentDigitsTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    [Theory]
    [InlineData("gru", "pytorch_gru_digits04.onnx", 6, 1000)]
    [InlineData("lstm", "pytorch_lstm_bidirectional.onnx", 18, 3000)]
    public void ARecurrentClassifier_IsServedAsPyTorchComputed_AndEveryTensorFollowsPyTorchsGradient(string key, string file, int tensors, int maxNodes)
    {
        var bytes = File.ReadAllBytes(Fixture(file));
        var uploaded = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all"));
        Assert.Equal((64, 10), (uploaded.Spec.InputDim, uploaded.Spec.Classes));
        Assert.Equal(tensors, uploaded.Spec.Graph!.Trained.Count);
        Assert.Contains("rnn.weight_hh_l0", uploaded.Spec.Graph.Trained.Select(t => t.Name)); // PyTorch's own tensors, not the exporter's reordered copies

        using var json = JsonDocument.Parse(File.ReadAllText(Fixture("pytorch_recurrent_expected.json")));
        var expected = json.RootElement.GetProperty(key);
        var pixels = expected.GetProperty("pixels").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        var labels = expected.GetProperty("labels").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var probabilities = expected.GetProperty("probabilities").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        using var model = InferenceModel.Load(bytes, uploaded.Spec);
        var prediction = model.Predict(pixels, labels.Length);
        for (var i = 0; i < probabilities.Length; i++) Assert.Equal(probabilities[i], prediction.Probabilities[i], 1e-5);

        UploadedClassifierTests.OneSgdStepFollowsPyTorch(uploaded, pixels, labels, expected);

        // Every broadcast in the unrolled steps is resolved from the shapes (the batch axis followed as a symbol, through
        // the initial state the exporter builds from Shape): no run-time search for broadcast axes (NonZero), and the
        // graph stays small enough for ONNX Runtime to load quickly.
        var step = ClassifierGraphs.Parse(uploaded.TrainStep!).Graph;
        output.WriteLine($"{file}: train step of {step.Node.Count} nodes");
        Assert.DoesNotContain(step.Node, n => n.OpType == "NonZero");
        Assert.InRange(step.Node.Count, 1, maxNodes);
    }

    /// <summary>All six GRU and head tensors fine-tuned by FedAvg over 10 shards holding all ten digits: held-out accuracy on 0–9 rises from what the upload knows.</summary>
    [Fact]
    public void AGru_FineTunedByFedAvgOnAllTenDigits_LearnsDigitsTheUploadNeverSaw()
    {
        var uploaded = UploadedClassifier.Open(File.ReadAllBytes(Fixture("pytorch_gru_digits04.onnx")), new UploadedClassifierOptions("all"));
        var curve = DigitShardsFedAvg.Curve(uploaded, scan => scan.Select(p => (float)p), learningRate: 0.1f); // intensities 0–16, as the file takes them
        output.WriteLine(DigitShardsFedAvg.Describe(curve));
        Assert.Equal(0.4534, curve[0], 3); // what PyTorch printed for the file
        Assert.True(curve[^1] > curve[0] + 0.2, $"held-out accuracy {curve[0]:F3} → {curve[^1]:F3}");
    }
}
