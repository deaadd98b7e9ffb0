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

    /// <summary>
    /// PyTorch's scripted cell reading its list of states at the batch's brightest row (<c>export_scripted_brightest.py</c>:
    /// a SequenceAt at a position only the run knows), its list stacked and read with a Gather in the train step:
    /// fine-tuned by the fleet on every digit. The position is the batch's, so the held-out set — scored as one batch —
    /// reads one row's state for every scan, which caps what it can reach; the fleet still gains.
    /// </summary>
    [Fact]
    public async Task PyTorchsListReadAtAPositionTheDataDecides_IsFineTunedByTheFleet()
    {
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_scripted_brightest.onnx"), File.ReadLines(Fixture("digits_tokens.csv")), rounds: 5, learningRate: "0.1", "accuracy");

        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.08, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }

    /// <summary>
    /// PyTorch's scripted model with a <c>while</c> only the data ends (<c>export_scripted_while.py</c>: activations
    /// refined until the batch's largest is within 2), its train step unrolled to 16 iterations
    /// (<c>--max-loop-trips 16</c>), each batch keeping the ones its data runs: fine-tuned by the fleet on every digit.
    /// </summary>
    [Fact]
    public async Task PyTorchsScriptedWhileLoop_IsFineTunedByTheFleet_WithinItsDeclaredBound()
    {
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_scripted_while.onnx"), File.ReadLines(Fixture("digits_tokens.csv")), rounds: 5, learningRate: "0.1", "accuracy",
            "--max-loop-trips", "16");

        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.3, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }

    /// <summary>
    /// PyTorch's scripted <c>while</c> loop the data ends keeping every refinement in a list it stacks
    /// (<c>export_scripted_while_stack.py</c>): unrolled to 16 iterations, each appended state flagged with whether the
    /// batch's run made it, the stack Gathering those — fine-tuned by the fleet on every digit.
    /// </summary>
    [Fact]
    public async Task PyTorchsWhileLoopStackingItsStates_IsFineTunedByTheFleet()
    {
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_scripted_while_stack.onnx"), File.ReadLines(Fixture("digits_tokens.csv")), rounds: 5, learningRate: "0.1", "accuracy",
            "--max-loop-trips", "16");

        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.3, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }

    /// <summary>
    /// PyTorch's scripted cell inserting each step's state into its list at a position the data decides
    /// (<c>export_scripted_insert.py</c>): the list laid out in slots, each the Where of the states its run-time position
    /// picks — fine-tuned by the fleet on every digit.
    /// </summary>
    [Fact]
    public async Task PyTorchsListInsertedIntoWhereTheDataSays_IsFineTunedByTheFleet()
    {
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_scripted_insert.onnx"), File.ReadLines(Fixture("digits_tokens.csv")), rounds: 5, learningRate: "0.1", "accuracy");

        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.3, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }
}
