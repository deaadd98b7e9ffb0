using EdgeMlOps.Runtime;
using EdgeMlOps.Simulator.Data;
using EdgeMlOps.Simulator.FineTuning;
using Xunit.Abstractions;

namespace EdgeMlOps.Simulator.Tests;

public class FederatedFineTuningTests(ITestOutputHelper output)
{
    /// <summary>
    /// A CNN exported by PyTorch after training on digits 0–4 only: its head is fine-tuned across 20 devices holding
    /// all ten digits, through the train step generated from the exported graph, with the backbone frozen. Accuracy
    /// on held-out digits 0–9 is read by running the exported graph itself with the averaged head.
    /// </summary>
    [Fact]
    public void APyTorchBackboneTrainedOnZeroToFour_LearnsAllTenDigits_WhenTheFleetFineTunesItsHead()
    {
        var model = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_cnn_digits04.onnx"));
        var (fleet, test) = FederatedFineTuning.SplitMnist(MnistDataset.Load());
        var result = FederatedFineTuning.Run(model, ["head.weight", "head.bias"], [1, 28, 28], fleet, test,
            devices: 20, rounds: 5, new LocalTrainingPlan(Epochs: 1, BatchSize: 16, LearningRate: 0.1f, Seed: 0), seed: 1,
            progress: r => output.WriteLine($"round {r.Round}: accuracy {r.Accuracy:F3}, train loss {r.TrainLoss:F3}"));

        output.WriteLine($"uploaded weights: accuracy {result.InitialAccuracy:F3} on {result.TestSamples} held-out digits; {result.TrainedValues} values trained");
        Assert.Equal(["head.weight", "head.bias"], result.Trained);
        Assert.InRange(result.InitialAccuracy, 0.35, 0.6); // knows half the digits
        Assert.True(result.Rounds[^1].Accuracy > result.InitialAccuracy + 0.25, $"fine-tuning reached {result.Rounds[^1].Accuracy:F3} from {result.InitialAccuracy:F3}");
        Assert.True(result.Rounds[^1].TrainLoss < result.Rounds[0].TrainLoss);
    }
}
