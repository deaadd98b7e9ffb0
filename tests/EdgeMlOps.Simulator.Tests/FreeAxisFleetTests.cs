using static EdgeMlOps.Simulator.Tests.UploadedModelFleet;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A classifier exported with a free axis (<c>export_digit_frames.py</c>: a scan read as frames of 8 intensities, the
/// frames a dynamic axis; trained on digits 0–4 only), its axis pinned at 8 frames (<c>--axis-lengths frames=8</c>) and
/// fine-tuned by real agents over MQTT on every digit: served as the uploaded file, trained at the pinned length.
/// </summary>
[Collection(FleetCollection.Name)]
public class FreeAxisFleetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task PyTorchsFrameClassifier_WithItsFreeAxisPinned_IsFineTunedByTheFleet_OnEveryDigit()
    {
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_digit_frames.onnx"), File.ReadLines(Fixture("digits_tokens.csv")), rounds: 5, learningRate: "1.0", "accuracy",
            "--axis-lengths", "frames=8");

        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.3, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }
}
