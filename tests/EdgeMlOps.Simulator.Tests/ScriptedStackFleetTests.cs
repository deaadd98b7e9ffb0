using static EdgeMlOps.Simulator.Tests.UploadedModelFleet;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// PyTorch's scripted model that walks a scan's rows (<c>rows.unbind(1)</c>), appends each step's state to a list and
/// stacks it (<c>export_scripted_stack.py</c>: SplitToSequence, a Loop with SequenceAt and SequenceInsert,
/// ConcatFromSequence; trained on digits 0–4 only), fine-tuned by real agents over MQTT on every digit: served as
/// exported, trained with its loop unrolled and its lists written out as their tensors.
/// </summary>
[Collection(FleetCollection.Name)]
public class ScriptedStackFleetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task PyTorchsScriptedListAndStack_IsFineTunedByTheFleet_OnEveryDigit()
    {
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_scripted_stack.onnx"), File.ReadLines(Fixture("digits_tokens.csv")), rounds: 5, learningRate: "0.1", "accuracy");

        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.3, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }
}
