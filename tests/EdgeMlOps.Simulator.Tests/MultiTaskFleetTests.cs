using static EdgeMlOps.Simulator.Tests.UploadedModelFleet;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A loss over several outputs at once, across the fleet: PyTorch's two-headed digit model (<c>export_digit_completion.py</c>:
/// a scan's upper half in; the digit's logits and the lower half [batch, 4, 8] out, trained on digits 0–4 only) declared
/// a multi-task model — the digit a classifier task, the lower half a regression task — and fine-tuned by real agents
/// over MQTT on every digit, each device keeping a scan's digit and lower half as one target. Learning the new digits
/// alone wrecks the completion the shared trunk also serves; with both losses the fleet learns the digits and keeps
/// (and improves) the completion.
/// </summary>
[Collection(FleetCollection.Name)]
public class MultiTaskFleetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>Each line: the scan's upper 32 intensities, then its digit and its lower 32 — the targets in task order.</summary>
    private static IEnumerable<string> Lines() => File.ReadLines(Fixture("digits_tokens.csv"))
        .Select(line => line.Split(','))
        .Select(v => string.Join(',', [.. v[..32], v[64], .. v[32..64]]));

    private Task<SimulationResult> FineTune(string tasks) => FineTuneOnCsvAsync(output, Fixture("pytorch_digit_completion.onnx"), Lines(), rounds: 5, learningRate: "0.2", "digit accuracy",
        "--tasks", tasks, "--target-columns", "33");

    [Fact]
    public async Task PyTorchsTwoHeadedModel_LearnsTheNewDigits_AndKeepsItsCompletion_OnlyWhenBothLossesTrain()
    {
        var both = await FineTune("digit:classes,bottom:regression:0.01");
        var (initial, final) = (both.InitialTaskScores!, both.Rounds[^1].TaskScores!);
        output.WriteLine($"both losses: digit accuracy {initial[0].Score:F4} → {final[0].Score:F4}, completion R² {initial[1].Score:F4} → {final[1].Score:F4}");
        Assert.Equal(["digit", "bottom"], final.Select(t => t.Output));
        Assert.Equal(both.FinalAccuracy, final[0].Score!.Value, 9); // the model's accuracy is its primary task's
        Assert.True(final[0].Score > initial[0].Score + 0.2, "the fleet teaches the digit head the digits 5–9 it never saw");
        Assert.True(final[1].Score > initial[1].Score, "and the completion the trunk also serves does not get worse");

        // The completion at a negligible weight (≈ the digit's loss alone): the trunk moves for the digits and the
        // completion, which nothing holds, falls far below the uploaded file's.
        var digitAlone = (await FineTune("digit:classes,bottom:regression:0.0001")).Rounds[^1].TaskScores!;
        output.WriteLine($"digit's loss alone: digit accuracy {digitAlone[0].Score:F4}, completion R² {digitAlone[1].Score:F4}");
        Assert.True(digitAlone[1].Score < initial[1].Score - 0.5, $"completion R² {digitAlone[1].Score:F4} without its loss");
    }

    /// <summary>
    /// A classifier task beside a multi-label task (<c>export_digit_multilabel_task.py</c>: the digit and four attributes
    /// of it over one trunk, trained on digits 0–4): each device keeps a scan's digit and its four 0/1 attributes as one
    /// target, and the fleet teaches both heads the digits they never saw.
    /// </summary>
    [Fact]
    public async Task PyTorchsDigitAndAttributesModel_LearnsBothHeads_FromOneTargetPerScan()
    {
        var digits = File.ReadLines(Fixture("digits_tokens.csv")).Select(line => line[(line.LastIndexOf(',') + 1)..]).ToArray();
        var lines = File.ReadLines(Fixture("digit_attributes.csv")).Select((line, i) => line.Split(',') is var v ? string.Join(',', [.. v[..64], digits[i], .. v[64..]]) : line);
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_digit_two_heads.onnx"), lines, rounds: 5, learningRate: "0.5", "digit accuracy",
            "--tasks", "digit:classes,attributes:labels", "--target-columns", "5");
        var (initial, final) = (result.InitialTaskScores!, result.Rounds[^1].TaskScores!);
        output.WriteLine($"digit accuracy {initial[0].Score:F4} → {final[0].Score:F4}, attributes' label accuracy {initial[1].Score:F4} → {final[1].Score:F4}");
        Assert.True(final[0].Score > initial[0].Score + 0.2, "the digit head learns the digits 5–9");
        Assert.True(final[1].Score > initial[1].Score + 0.05, "and the attributes head describes them better");
    }

    /// <summary>
    /// A classifier task beside a per-position task (<c>export_digit_segment_task.py</c>: the digit's logits and 11
    /// classes at every pixel — background, or the digit where there is ink — over one trunk, trained on digits 0–4):
    /// each device keeps a scan's digit and its 64 pixel classes as one target, and the fleet teaches both heads the
    /// digits they never saw.
    /// </summary>
    [Fact]
    public async Task PyTorchsDigitAndSegmentsModel_LearnsTheDigitAndEveryPixelsClass_FromOneTargetPerScan()
    {
        var lines = File.ReadLines(Fixture("digits_tokens.csv")).Select(line => line.Split(',')).Select(v =>
            string.Join(',', [.. v[..64], v[64], .. v[..64].Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture) >= 4 ? (int.Parse(v[64], System.Globalization.CultureInfo.InvariantCulture) + 1).ToString(System.Globalization.CultureInfo.InvariantCulture) : "0")]));
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_digit_segment_task.onnx"), lines, rounds: 5, learningRate: "0.1", "digit accuracy",
            "--tasks", "digit:classes,segments:positions", "--target-columns", "65");
        var (initial, final) = (result.InitialTaskScores!, result.Rounds[^1].TaskScores!);
        output.WriteLine($"digit accuracy {initial[0].Score:F4} → {final[0].Score:F4}, pixel accuracy {initial[1].Score:F4} → {final[1].Score:F4}");
        Assert.True(final[0].Score > initial[0].Score + 0.2, "the digit head learns the digits 5–9");
        Assert.True(final[1].Score > initial[1].Score + 0.05, "and the segments head calls their ink by its digit");
    }

    /// <summary>
    /// A classifier task beside a tagger's task, classes last (<c>export_digit_tagger_task.py</c>: the digit and 11 classes
    /// for every row [batch, 8, 11] — none, or the digit where the row has ink): one 9-number target per scan.
    /// </summary>
    [Fact]
    public async Task PyTorchsDigitAndRowTagsModel_LearnsTheDigitAndEveryRowsTag_WithTheClassesLast()
    {
        static int Number(string text) => int.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
        var lines = File.ReadLines(Fixture("digits_tokens.csv")).Select(line => line.Split(',')).Select(v =>
            string.Join(',', [.. v[..64], v[64], .. Enumerable.Range(0, 8).Select(r => v.Skip(r * 8).Take(8).Max(Number) >= 4 ? (Number(v[64]) + 1).ToString(System.Globalization.CultureInfo.InvariantCulture) : "0")]));
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_digit_tagger_task.onnx"), lines, rounds: 5, learningRate: "0.1", "digit accuracy",
            "--tasks", "digit:classes,tags:tags", "--target-columns", "9");
        var (initial, final) = (result.InitialTaskScores!, result.Rounds[^1].TaskScores!);
        output.WriteLine($"digit accuracy {initial[0].Score:F4} → {final[0].Score:F4}, row accuracy {initial[1].Score:F4} → {final[1].Score:F4}");
        Assert.True(final[0].Score > initial[0].Score + 0.2, "the digit head learns the digits 5–9");
        Assert.True(final[1].Score > initial[1].Score + 0.2, "and the tagger names their rows by their digit");
    }

    /// <summary>
    /// A two-task model over samples of 6 to 8 frames (<c>export_digit_frames_tasks.py</c>: the digit, and the whole
    /// scan's ink — its mean intensity over 16 — which a clip of its first frames must estimate; <c>--axis-lengths
    /// frames=6..8</c>): each device's scans cut to lengths of their own, their targets whole. Every sample trains each
    /// round, both tasks are scored per length and pooled, and the digit head learns the digits it never saw.
    /// </summary>
    [Fact]
    public async Task ATwoTaskModelOverSamplesOfSixToEightFrames_TrainsEverySample_AndScoresEachTask()
    {
        static string WithInk(string line)
        {
            var cells = line.Split(',');
            var ink = cells[..64].Sum(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)) / 64 / 16;
            return string.Join(',', [.. cells[..65], ink.ToString("R", System.Globalization.CultureInfo.InvariantCulture)]); // the scan, its digit, its ink
        }

        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_digit_frames_tasks.onnx"), File.ReadLines(Fixture("digits_tokens.csv")).Select(WithInk), rounds: 5, learningRate: "0.05", "digit accuracy",
            "--tasks", "digit:classes,ink:regression", "--target-columns", "2", "--axis-lengths", "frames=6..8");
        var (initial, final) = (result.InitialTaskScores!, result.Rounds[^1].TaskScores!);
        output.WriteLine($"digit accuracy {initial[0].Score:F4} → {final[0].Score:F4}, ink R² {initial[1].Score:F4} → {final[1].Score:F4}");
        Assert.All(result.Rounds, r => Assert.Equal(1400, r.Samples));
        Assert.Equal(["digit", "ink"], final.Select(t => t.Output)); // each task scored over every length
        Assert.True(final[0].Score > initial[0].Score + 0.1, "the digit head learns the digits 5–9");
        Assert.True(final[1].Score > 0, "and the ink is still estimated better than its mean");
    }
}
