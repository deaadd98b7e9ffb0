using static EdgeMlOps.Simulator.Tests.UploadedModelFleet;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// An anomaly detector's convolutional autoencoder made by PyTorch (<c>export_pytorch_mobile.py</c>: strided Conv2d
/// down, ConvTranspose2d up, trained to reconstruct the digit scans of 0–4 only), uploaded as a regressor whose 64
/// targets are the scan itself, and fine-tuned by real agents over MQTT on scans of every digit: what is normal in the
/// field, learnt where it happens, without a scan leaving a device.
/// </summary>
[Collection(FleetCollection.Name)]
public class AutoencoderFleetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task PyTorchsConvAutoencoder_IsFineTunedByTheFleet_AndReconstructsHeldOutScansBetter()
    {
        // Each line: a scan's 64 intensities, then the same 64 as the targets it should reconstruct.
        var lines = File.ReadLines(Fixture("digits_tokens.csv")).Select(line => line[..line.LastIndexOf(',')]).Select(pixels => pixels + "," + pixels);
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_conv_autoencoder.onnx"), lines, rounds: 5, learningRate: "0.001", "R²",
            "--regression", "--target-columns", "64");

        Assert.True(result.Rounds[^1].Loss < result.Rounds[0].Loss, "held-out reconstruction error falls over the rounds");
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy, $"R² {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }
}
