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
}
