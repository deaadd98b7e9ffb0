using static EdgeMlOps.Simulator.Tests.UploadedModelFleet;

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
    [Fact]
    public async Task PyTorchsEinsumTopKEmbeddingTrainedOnZeroToFour_IsFineTunedByTheFleet_AndLearnsDigitsItNeverSaw()
    {
        var result = await FineTuneAsync(output, Fixture("pytorch_embedding_digits04.onnx"), rounds: 10, learningRate: "0.5", "accuracy", "--dataset", "csv:" + Fixture("digits_tokens.csv"));

        Assert.InRange(result.Initial.Accuracy, 0.35, 0.6); // knows half the digits
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.12, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
        Assert.True(result.Rounds[^1].Loss < result.Rounds[0].Loss, "the held-out loss falls");
    }
}
