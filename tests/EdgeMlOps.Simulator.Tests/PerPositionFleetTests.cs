using static EdgeMlOps.Simulator.Tests.UploadedModelFleet;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A per-pixel classifier made by PyTorch (<c>export_digit_segmenter.py</c>: 11 classes at each of a scan's 8×8 pixels —
/// background, or the digit whose ink it is — trained on digits 0–4 only), uploaded as a per-position classifier and
/// fine-tuned by real agents over MQTT on every digit: each device keeps a class id per pixel as its ground truth, and
/// the fleet learns to label the ink of digits the upload never saw.
/// </summary>
[Collection(FleetCollection.Name)]
public class PerPositionFleetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task PyTorchsDigitSegmenter_IsFineTunedByTheFleet_OnAClassPerPixel_AndLabelsHeldOutPixelsBetter()
    {
        // Each line: the scan's 64 intensities, then each pixel's class — 0 below intensity 4, else 1 + the digit.
        var lines = File.ReadLines(Fixture("digits_tokens.csv")).Select(line =>
        {
            var values = line.Split(',');
            var digit = int.Parse(values[64], System.Globalization.CultureInfo.InvariantCulture);
            return string.Join(',', values[..64]) + "," + string.Join(',', values[..64].Select(v => int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) >= 4 ? digit + 1 : 0));
        });
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_digit_segmenter.onnx"), lines, rounds: 5, learningRate: "0.1", "position accuracy", "--positions", "--target-columns", "64");

        Assert.True(result.Rounds[^1].Loss < result.Rounds[0].Loss, "held-out per-pixel cross-entropy falls over the rounds");
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.1, $"position accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }

    /// <summary>
    /// A sequence tagger made by PyTorch (<c>export_digit_row_tagger.py</c>: a bidirectional GRU over a scan's eight rows,
    /// [batch, 8, 11] with its classes last — a row's class 0 without ink, else 1 + the digit; trained on digits 0–4),
    /// declared with <c>--class-axis last</c> and fine-tuned by real agents over MQTT on a class id per row.
    /// </summary>
    [Fact]
    public async Task PyTorchsRowTagger_WithItsClassesLast_IsFineTunedByTheFleet_OnAClassPerRow()
    {
        // Each line: the scan's 64 intensities, then each row's class — 0 without a pixel of 8 or more, else 1 + the digit.
        var lines = File.ReadLines(Fixture("digits_tokens.csv")).Select(line =>
        {
            var values = line.Split(',').Select(v => int.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            return string.Join(',', values[..64]) + "," + string.Join(',', Enumerable.Range(0, 8).Select(r => values[(r * 8)..((r + 1) * 8)].Max() >= 8 ? values[64] + 1 : 0));
        });
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_digit_row_tagger.onnx"), lines, rounds: 5, learningRate: "0.5", "row accuracy", "--positions", "--class-axis", "last", "--target-columns", "8");

        Assert.True(result.Rounds[^1].Loss < result.Rounds[0].Loss, "held-out per-row cross-entropy falls over the rounds");
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.1, $"row accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }
}
