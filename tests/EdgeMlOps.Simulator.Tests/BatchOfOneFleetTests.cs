using static EdgeMlOps.Simulator.Tests.UploadedModelFleet;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A CNN exported as <c>torch.onnx.export</c> writes it without <c>dynamic_axes</c> (<c>export_digit_batch_one.py</c>:
/// its batch fixed at 1, a Reshape to [1, −1] inside; trained on digits 0–4 only), fine-tuned by real agents over MQTT
/// on every digit: served as the uploaded file a row at a time, each mini-batch's step taken on the mean of its rows'
/// gradients — with SGD, and with Adam at a learning rate at which SGD does not move it (0.506 → 0.458 in that run).
/// </summary>
[Collection(FleetCollection.Name)]
public class BatchOfOneFleetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Theory]
    [InlineData("sgd", "0.1")]
    [InlineData("adam", "0.005")]
    public async Task PyTorchsCnnExportedWithoutDynamicAxes_IsFineTunedByTheFleet_OnEveryDigit(string optimizer, string learningRate)
    {
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_digit_batch_one.onnx"), File.ReadLines(Fixture("digits_tokens.csv")), rounds: 5, learningRate, "accuracy", "--optimizer", optimizer);

        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.3, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }
}
