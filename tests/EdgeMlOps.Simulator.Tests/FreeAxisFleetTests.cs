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

    /// <summary>
    /// Samples of 6 to 8 frames on one fleet (<c>--axis-lengths frames=6..8</c>): each device's scans are cut to lengths
    /// of their own, about two in three shorter than the pin, and so are the held-out scans (each length scored on its
    /// own). Every sample trains — each round's updates count all 1,400 of them, where keeping rows of one width would
    /// count only the whole scans — and the held-out accuracy rises as on whole scans.
    /// </summary>
    [Fact]
    public async Task SamplesOfSixToEightFrames_AllTrain_OnOneFleet()
    {
        var cuts = SampleCuts.For(EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(File.ReadAllBytes(Fixture("pytorch_digit_frames.onnx")),
            new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("all") { AxisLengths = [("frames", 8)], Varying = ("frames", 6) }).Spec, 1)!;
        var widths = Enumerable.Range(0, 1400).Select(i => cuts(i, new float[64]).Length).ToList();
        Assert.All(new[] { 48, 56, 64 }, w => Assert.InRange(widths.Count(x => x == w), 380, 560)); // about a third at each length

        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_digit_frames.onnx"), File.ReadLines(Fixture("digits_tokens.csv")), rounds: 5, learningRate: "1.0", "accuracy",
            "--axis-lengths", "frames=6..8");

        Assert.All(result.Rounds, r => Assert.Equal(1400, r.Samples));
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.3, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }

    /// <summary>
    /// The same on a model with a context input beside the frames (<c>export_digit_frames_context.py</c>: the scan's
    /// last row as <c>last_row</c>, fed from the columns after the frames, <c>--model-input rows</c>): each device's rows
    /// are its scan's frames cut to 6 to 8 and then the 8 context values, kept whole. Every sample trains and the
    /// held-out accuracy rises.
    /// </summary>
    [Fact]
    public async Task SamplesOfSixToEightFramesWithAContextInput_AllTrain_OnOneFleet()
    {
        static string WithLastRow(string line)
        {
            var cells = line.Split(',');
            return string.Join(',', [.. cells[..64], .. cells[56..64], cells[64]]); // the frames, the last row again as context, the digit
        }

        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_digit_frames_context.onnx"), File.ReadLines(Fixture("digits_tokens.csv")).Select(WithLastRow), rounds: 5, learningRate: "1.0", "accuracy",
            "--model-input", "rows", "--axis-lengths", "frames=6..8");

        Assert.All(result.Rounds, r => Assert.Equal(1400, r.Samples));
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.3, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }

    /// <summary>
    /// The same behind a front end (<c>export_frames_frontends.py</c>, <c>--preprocess-file</c>): every device keeps raw
    /// 12-bit scans (intensity × gain + dark per column, as the calibration undoes), cut to 6 to 8 frames, and runs them
    /// through PyTorch's calibration (the model sees as many frames), resampler (it sees 8 whatever the length) or framing
    /// (each scan one signal of 48 to 64 samples, cut at any sample, framed into 6 to 8 frames). Every sample trains and
    /// the held-out accuracy rises.
    /// </summary>
    [Theory]
    [InlineData("pytorch_frames_calibration.onnx", "frames=6..8")]
    [InlineData("pytorch_frames_resample.onnx", "readings=6..8,frames=8")]
    [InlineData("pytorch_frames_framing.onnx", "samples=48..64,frames=8")]
    public async Task RawScansOfSixToEightFramesBehindAFrontEnd_AllTrain_OnOneFleet(string front, string axes)
    {
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_digit_frames.onnx"), File.ReadLines(Fixture("digits_tokens.csv")).Select(Raw), rounds: 5, learningRate: "1.0", "accuracy",
            "--preprocess-file", Fixture(front), "--axis-lengths", axes);

        Assert.All(result.Rounds, r => Assert.Equal(1400, r.Samples));
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.3, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }

    /// <summary>
    /// Behind PyTorch's trimming (<c>export_trimming_frontend.py</c>), which drops a scan's quiet frames: the data decides
    /// whether the model sees 1 or 8 of them (<c>readings=6..8,frames=1..8</c>), each device runs it scan by scan and
    /// trains on batches of one count. The model sees the loud frames without their places, a harder task: PyTorch's
    /// own Adam on all 1,400 training scans reaches 0.55 held out after 10 epochs and 0.67 after 40 (docs/BENCHMARKS.md).
    /// Every sample trains, and ten rounds take the held-out accuracy up by more than 0.2 — with scans cut to 6 to 8
    /// readings, or all of 8 (<c>readings=8,frames=1..8</c>: a fixed window, the frames decided by the data alone).
    /// </summary>
    [Theory]
    [InlineData("readings=6..8,frames=1..8")]
    [InlineData("readings=8,frames=1..8")]
    public async Task RawScansWhoseQuietFramesTheFrontEndDrops_AllTrain_OnOneFleet(string axes)
    {
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_digit_frames.onnx"), File.ReadLines(Fixture("digits_tokens.csv")).Select(Raw), rounds: 10, learningRate: "1.0", "accuracy",
            "--preprocess-file", Fixture("pytorch_frames_trimming.onnx"), "--axis-lengths", axes);

        Assert.All(result.Rounds, r => Assert.Equal(1400, r.Samples));
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.2, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }

    /// <summary>
    /// The same trimming declared to make 3 to 8 frames (<c>readings=6..8,frames=3..8</c>): the devices' scans that keep
    /// 1 or 2 frames are left out of every round's training and its updates' sample counts, the others train, and every
    /// update is taken.
    /// </summary>
    [Fact]
    public async Task ScansTheFrontEndRefuses_AreLeftOutOnEveryDevice_AndTheRestTrain()
    {
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_digit_frames.onnx"), File.ReadLines(Fixture("digits_tokens.csv")).Select(Raw), rounds: 5, learningRate: "1.0", "accuracy",
            "--preprocess-file", Fixture("pytorch_frames_trimming.onnx"), "--axis-lengths", "readings=6..8,frames=3..8");

        var trained = result.Rounds[0].Samples;
        output.WriteLine($"samples trained each round: {trained} of 1400");
        Assert.All(result.Rounds, r => Assert.Equal(trained, r.Samples)); // the same scans refused every round
        Assert.InRange(trained, 1000, 1399);
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.1, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }

    /// <summary>
    /// A context input beside a front end: PyTorch's frame classifier with the scan's last row beside its frames
    /// (<c>--model-input rows</c>), behind PyTorch's calibration. Each row is a raw scan cut to 6 to 8 frames, then the
    /// last row's 8 calibrated values, which the device feeds to <c>last_row</c> as they are. Every sample trains and the
    /// held-out accuracy rises.
    /// </summary>
    [Fact]
    public async Task RawScansBehindAFrontEndWithAContextInput_AllTrain_OnOneFleet()
    {
        static string RawWithLastRow(string line)
        {
            var cells = line.Split(',');
            return string.Join(',', [.. Counts(cells), .. cells[56..64], cells[64]]);
        }

        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_digit_frames_context.onnx"), File.ReadLines(Fixture("digits_tokens.csv")).Select(RawWithLastRow), rounds: 5, learningRate: "1.0", "accuracy",
            "--model-input", "rows", "--preprocess-file", Fixture("pytorch_frames_calibration.onnx"), "--axis-lengths", "frames=6..8");

        Assert.All(result.Rounds, r => Assert.Equal(1400, r.Samples));
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.3, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }

    /// <summary>A CSV row of digits_tokens.csv with its scan as raw counts (<see cref="Counts"/>), then the digit.</summary>
    private static string Raw(string line)
    {
        var cells = line.Split(',');
        return string.Join(',', [.. Counts(cells), cells[64]]);
    }

    /// <summary>A scan's 64 intensities as a 12-bit sensor's counts (each column's gain and dark level, as <c>export_frames_frontends.py</c> defines them), which the calibration undoes.</summary>
    private static IEnumerable<string> Counts(string[] cells) =>
        cells[..64].Select((v, i) => ((float.Parse(v, System.Globalization.CultureInfo.InvariantCulture) * (200 + (10 * (i % 8)))) + 90 + (5 * (i % 8))).ToString(System.Globalization.CultureInfo.InvariantCulture));
}
