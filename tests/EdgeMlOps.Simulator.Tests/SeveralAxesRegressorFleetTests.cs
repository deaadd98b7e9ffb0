using static EdgeMlOps.Simulator.Tests.UploadedModelFleet;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A two-headed model made by PyTorch (<c>export_digit_completion.py</c>: a scan's upper half in; the digit's logits
/// and the lower half [batch, 4, 8] out, trained on digits 0–4 only), uploaded as a regressor on its second output and
/// fine-tuned by real agents over MQTT on every digit: the targets each device keeps are the lower half, shaped like
/// that output, and the digit head rides along untouched.
/// </summary>
[Collection(FleetCollection.Name)]
public class SeveralAxesRegressorFleetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task PyTorchsDigitCompletion_IsFineTunedByTheFleet_OnItsLowerHalfOutput_AndCompletesHeldOutScansBetter()
    {
        // Each line: the scan's upper 32 intensities, then its lower 32 — the targets, row-major as [4, 8].
        var lines = File.ReadLines(Fixture("digits_tokens.csv")).Select(line => line[..line.LastIndexOf(',')]);
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_digit_completion.onnx"), lines, rounds: 5, learningRate: "0.0005", "R²",
            "--regression", "--target-columns", "32", "--model-output", "bottom");

        Assert.True(result.Rounds[^1].Loss < result.Rounds[0].Loss, "held-out completion error falls over the rounds");
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.05, $"R² {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }
}
