using EdgeMlOps.Shared.Hashing;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A regressor made by other people's tools, fine-tuned by the fleet: PyTorch's MLP trained on scikit-learn's diabetes
/// patients of one sex (<c>export_diabetes_regressor.py</c>), uploaded as its file, served and trained by real agents
/// over MQTT on both sexes' float targets with the generated mean-squared-error step, scored by the aggregator on
/// held-out patients by MSE and R².
/// </summary>
[Collection(FleetCollection.Name)]
public class RegressionFleetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public async Task PyTorchsDiabetesRegressor_IsFineTunedByTheFleet_OnTargets_AndHeldOutErrorFalls()
    {
        var result = await new SimulationRunner(SimulationOptions.Parse([
            "--dataset", "csv:" + Fixture("diabetes.csv"), "--regression", "--model-file", Fixture("pytorch_diabetes_regressor.onnx"), "--trainable", "all",
            "--test-size", "110", "--devices", "10", "--rounds", "5", "--fraction", "1", "--local-epochs", "5", "--batch", "8", "--lr", "0.02", "--seed", "1",
            "--out", "-", "--experiments", "off"])).RunAsync(CancellationToken.None);

        output.WriteLine($"uploaded file: R² {result.Initial.Accuracy:F4}");
        foreach (var r in result.Rounds) output.WriteLine($"round {r.Round}: v{r.Version} R² {r.Accuracy:F4}, MSE {r.Loss:F4}, devices' train MSE {r.TrainLoss:F4}");
        Assert.Equal(ContentHash.Sha256Hex(await File.ReadAllBytesAsync(Fixture("pytorch_diabetes_regressor.onnx"))), result.Initial.InferenceSha256);
        Assert.All(result.Rounds, r => Assert.Equal(("Completed", 10, 0L), (r.Status, r.Participants, r.Rejected)));
        Assert.InRange(result.Initial.Accuracy, 0.3, 0.5); // PyTorch's fit on one sex: R² 0.42 on these 110 patients
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.02, $"R² {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
        Assert.True(result.Rounds[^1].Loss < result.Rounds[0].Loss, "held-out MSE falls over the rounds");
        Assert.True(result.Rounds.All(r => double.IsFinite(r.TrainLoss) && r.TrainLoss > 0), "devices report their training MSE");
    }
}
