using EdgeMlOps.Shared.Hashing;

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
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public async Task PyTorchsConvAutoencoder_IsFineTunedByTheFleet_AndReconstructsHeldOutScansBetter()
    {
        // Each line: a scan's 64 intensities, then the same 64 as the targets it should reconstruct.
        var csv = Path.Combine(Path.GetTempPath(), $"edgemlops-autoencoder-{Guid.NewGuid():N}.csv");
        await File.WriteAllLinesAsync(csv, File.ReadLines(Fixture("digits_tokens.csv")).Select(line => line[..line.LastIndexOf(',')]).Select(pixels => pixels + "," + pixels));
        var model = Fixture("pytorch_conv_autoencoder.onnx");
        SimulationResult result;
        try
        {
            result = await new SimulationRunner(SimulationOptions.Parse([
                "--dataset", "csv:" + csv, "--regression", "--target-columns", "64", "--model-file", model, "--trainable", "all",
                "--test-size", "397", "--devices", "10", "--rounds", "5", "--fraction", "1", "--local-epochs", "5", "--batch", "16", "--lr", "0.001", "--seed", "1",
                "--out", "-", "--experiments", "off"])).RunAsync(CancellationToken.None);
        }
        finally
        {
            File.Delete(csv);
        }

        output.WriteLine($"uploaded file: R² {result.Initial.Accuracy:F4}");
        foreach (var r in result.Rounds) output.WriteLine($"round {r.Round}: v{r.Version} R² {r.Accuracy:F4}, reconstruction MSE {r.Loss:F4}");
        Assert.Equal(ContentHash.Sha256Hex(await File.ReadAllBytesAsync(model)), result.Initial.InferenceSha256);
        Assert.All(result.Rounds, r => Assert.Equal(("Completed", 10, 0L), (r.Status, r.Participants, r.Rejected)));
        Assert.True(result.Rounds[^1].Loss < result.Rounds[0].Loss, "held-out reconstruction error falls over the rounds");
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy, $"R² {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }
}
