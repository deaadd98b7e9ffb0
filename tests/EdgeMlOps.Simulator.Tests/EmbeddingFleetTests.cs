using EdgeMlOps.Shared.Hashing;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A model built from the ops this op set gained last — attention written with torch.einsum, torch.cumsum, torch.topk,
/// torch.gather, F.normalize, x.repeat, torch.logsumexp, torch.sin — exported by PyTorch after training on digits 0–4
/// only (<c>train_embedding_digits.py</c>), uploaded as its file and fine-tuned in all its tensors by real agents over
/// MQTT on a CSV of all ten digits, scored by the aggregator on held-out scans.
/// </summary>
[Collection(FleetCollection.Name)]
public class EmbeddingFleetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public async Task PyTorchsEinsumTopKEmbeddingTrainedOnZeroToFour_IsFineTunedByTheFleet_AndLearnsDigitsItNeverSaw()
    {
        var model = Fixture("pytorch_embedding_digits04.onnx");
        var result = await new SimulationRunner(SimulationOptions.Parse([
            "--dataset", "csv:" + Fixture("digits_tokens.csv"), "--model-file", model, "--trainable", "all",
            "--test-size", "397", "--devices", "10", "--rounds", "10", "--fraction", "1", "--local-epochs", "5", "--batch", "16", "--lr", "0.5", "--seed", "1",
            "--out", "-", "--experiments", "off"])).RunAsync(CancellationToken.None);

        output.WriteLine($"uploaded file: accuracy {result.Initial.Accuracy:F4}");
        foreach (var r in result.Rounds) output.WriteLine($"round {r.Round}: v{r.Version} accuracy {r.Accuracy:F4}, loss {r.Loss:F4}");
        Assert.Equal(ContentHash.Sha256Hex(await File.ReadAllBytesAsync(model)), result.Initial.InferenceSha256);
        Assert.All(result.Rounds, r => Assert.Equal(("Completed", 10, 0L), (r.Status, r.Participants, r.Rejected)));
        Assert.InRange(result.Initial.Accuracy, 0.35, 0.6); // knows half the digits
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.12, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
        Assert.True(result.Rounds[^1].Loss < result.Rounds[0].Loss, "the held-out loss falls");
    }
}
