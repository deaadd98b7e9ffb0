using EdgeMlOps.Shared.Hashing;

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
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public async Task PyTorchsGruTrainedOnZeroToFour_IsFineTunedByTheFleet_AndLearnsAllTenDigits()
    {
        var model = Fixture("pytorch_gru_digits04.onnx");
        var result = await new SimulationRunner(SimulationOptions.Parse([
            "--dataset", "csv:" + Fixture("digits_tokens.csv"), "--model-file", model, "--trainable", "all",
            "--test-size", "397", "--devices", "10", "--rounds", "5", "--fraction", "1", "--local-epochs", "5", "--batch", "16", "--lr", "0.1", "--seed", "1",
            "--out", "-", "--experiments", "off"])).RunAsync(CancellationToken.None);

        output.WriteLine($"uploaded file: accuracy {result.Initial.Accuracy:F4}");
        foreach (var r in result.Rounds) output.WriteLine($"round {r.Round}: v{r.Version} accuracy {r.Accuracy:F4}, loss {r.Loss:F4}, devices' train loss {r.TrainLoss:F4}");
        Assert.Equal(ContentHash.Sha256Hex(await File.ReadAllBytesAsync(model)), result.Initial.InferenceSha256);
        Assert.All(result.Rounds, r => Assert.Equal(("Completed", 10, 0L), (r.Status, r.Participants, r.Rejected)));
        Assert.InRange(result.Initial.Accuracy, 0.35, 0.65); // knows half the digits
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.15, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }
}
