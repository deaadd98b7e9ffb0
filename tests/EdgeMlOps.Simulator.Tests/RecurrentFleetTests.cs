using static EdgeMlOps.Simulator.Tests.UploadedModelFleet;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A recurrent model made by other people's tools, fine-tuned by the fleet: PyTorch's GRU over scikit-learn's digit
/// scans read row by row (8 steps of 8 pixels), trained on digits 0–4 only (<c>export_pytorch_recurrent.py</c>),
/// uploaded as its file, served and trained by real agents over MQTT on a CSV of all ten digits with a train step that
/// unrolls the GRU, and scored by the aggregator on held-out scans.
/// </summary>
[Collection(FleetCollection.Name)]
public class RecurrentFleetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task PyTorchsGruTrainedOnZeroToFour_IsFineTunedByTheFleet_AndLearnsAllTenDigits()
    {
        var result = await FineTuneAsync(output, Fixture("pytorch_gru_digits04.onnx"), rounds: 5, learningRate: "0.1", "accuracy", "--dataset", "csv:" + Fixture("digits_tokens.csv"));

        Assert.InRange(result.Initial.Accuracy, 0.35, 0.65); // knows half the digits
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.15, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }
}
