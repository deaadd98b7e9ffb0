using System.Globalization;
using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Configuration;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests.Registry;

/// <summary>
/// <c>ModelInterface:Kind=multitask</c> with <c>ModelInterface:Tasks</c>, as an operator types it: PyTorch's two-headed
/// digit model becomes the fleet's multi-task model (the digit a classifier task, the lower half a regression task),
/// probed before any device sees it and scored on held-out lines whose target is every task's ground truth in order;
/// a declaration that does not fit is a configuration error naming the key.
/// </summary>
public sealed class MultiTaskConfigTests
{
    private static readonly string Completion = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_digit_completion.onnx");

    private static AggregatorOptions Read(params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Aggregator:Model"] = "onnx:" + Completion, ["Aggregator:ModelInterface:Kind"] = "multitask",
            ["Aggregator:ModelInterface:Tasks"] = "digit:classes,bottom:regression:0.5", ["Aggregator:ModelInterface:Trainable"] = "all",
        };
        foreach (var (key, value) in extra) settings["Aggregator:" + key] = value;
        return AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
    }

    [Fact]
    public void KindMultiTask_MakesTheFileTheFleetsMultiTaskModel_ProbedAndScoredOnHeldOutTargetsInTaskOrder()
    {
        var options = Read();
        Assert.True(options.Model.IsMultiTask);
        Assert.Equal((32, 33, 0, "digit"), (options.Model.InputDim, options.Model.Targets, options.Model.Classes, options.Model.Graph!.ScoresOutput));
        Assert.Equal(6, options.Model.Graph.Trained.Count); // the trunk and both heads
        UploadedModelProbe.Run(options.ModelSource!);

        // Evaluation:DataFile lines: the upper half, then the digit and the lower half; the score is the weighted loss
        // PyTorch computes (export_digit_multitask.py) and the digit's accuracy.
        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "digit_multitask_expected.json")));
        string[] Texts(string name) => [.. expected.RootElement.GetProperty(name).EnumerateArray().Select(v => v.GetSingle().ToString(CultureInfo.InvariantCulture))];
        var (top, digits, bottoms) = (Texts("top"), Texts("digits"), Texts("bottoms"));
        string Line(int row, string? digit = null, int values = 32) => $"{{\"features\":[{string.Join(',', top[(row * 32)..((row + 1) * 32)])}],\"target\":[{digit ?? digits[row]},{string.Join(',', bottoms[(row * 32)..((row * 32) + values)])}]}}";
        var file = Path.Combine(AggregatorFixture.TempDirectory(), "scans.jsonl");
        File.WriteAllLines(file, Enumerable.Range(0, 8).Select(row => Line(row)));
        using var model = EdgeMlOps.Runtime.InferenceModel.Load(options.ModelSource!.Bytes, options.Model);
        Assert.Equal(expected.RootElement.GetProperty("loss").GetDouble(), HeldOutFile.Load(file, options.Model).Evaluate(model).Loss, 4);
        File.WriteAllLines(file, [Line(0, digit: "3.5")]);
        Assert.Contains("target[0] is 3.5: task 'digit' takes a class id (0 to 9)", Assert.Throws<InvalidDataException>(() => HeldOutFile.Load(file, options.Model)).Message, StringComparison.Ordinal);
        File.WriteAllLines(file, [Line(0, values: 31)]);
        Assert.Contains("'target' must be an array of 33 numbers, each task's in order — a class id for 'digit', 32 values for 'bottom'", Assert.Throws<InvalidDataException>(() => HeldOutFile.Load(file, options.Model)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EachTasksHeldOutScore_IsKeptWithTheVersion_SignedIntoItsManifest_AndShownOnItsCard()
    {
        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "digit_multitask_expected.json")));
        float[] Floats(string name) => [.. expected.RootElement.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        var (digits, bottoms) = (Floats("digits"), Floats("bottoms"));
        float[] targets = [.. digits.SelectMany((d, i) => bottoms.Skip(i * 32).Take(32).Prepend(d))];
        var options = Read() with { DataDirectory = AggregatorFixture.TempDirectory(), EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0" };
        await using var node = new AggregatorNode(options, evaluator: new HeldOutTargetsEvaluator(Floats("top"), targets, 33));

        // PyTorch's figures for the eight scans: the weighted loss is the version's loss, each task's its own.
        var v1 = node.Registry.Version(options.ModelName, node.CurrentVersion.Version)!; // read back from the registry
        Assert.Equal(expected.RootElement.GetProperty("loss").GetDouble(), v1.EvalLoss!.Value, 4);
        Assert.Equal(["digit", "bottom"], v1.TaskScores!.Select(t => t.Output));
        Assert.Equal(expected.RootElement.GetProperty("crossEntropy").GetDouble(), v1.TaskScores![0].Loss!.Value, 4);
        Assert.Equal(expected.RootElement.GetProperty("mse").GetDouble(), v1.TaskScores[1].Loss!.Value, 3);
        Assert.Equal(v1.EvalAccuracy, v1.TaskScores[0].Score);

        var (manifest, _) = node.SignManifest(v1);
        Assert.Equal(v1.TaskScores[1].Score!.Value, manifest.Metrics["eval_task.bottom.score"], 9);
        var card = EdgeMlOps.Aggregator.Governance.ModelCard.Build(node.Registry, node.Options, node.Monitor, v1, artifacts: node.Artifacts).Markdown;
        Assert.Contains($"| bottom | regression (32 values): MSE, R² | 0.5 | {v1.TaskScores[1].Loss!.Value.ToString("F4", CultureInfo.InvariantCulture)} |", card, StringComparison.Ordinal);
        Assert.Contains("a multi-task model: 2 tasks trained at once", card, StringComparison.Ordinal);
    }

    [Fact]
    public void TasksThatDoNotFit_AreErrorsNamingTheKey()
    {
        static IReadOnlyList<string> Errors(params (string, string)[] settings) => Assert.Throws<OptionsValidationException>(() => Read(settings)).Errors;
        Assert.Contains(Errors(("ModelInterface:Tasks", "digit:classes")), e => e.Contains("ModelInterface:Tasks", StringComparison.Ordinal) && e.Contains("2 to 8 outputs", StringComparison.Ordinal));
        Assert.Contains(Errors(("ModelInterface:Tasks", "digit:boxes,bottom:regression")), e => e.Contains("'digit:boxes' is not OUTPUT:classes, OUTPUT:regression, OUTPUT:labels, OUTPUT:positions or OUTPUT:tags", StringComparison.Ordinal));
        Assert.Contains(Errors(("ModelInterface:Tasks", "digit:tags,bottom:regression")), e => e.Contains("task 'digit': output 'digit' is float [batch, 10]; a per-position classifier's scores must be float [batch, positions…, classes]", StringComparison.Ordinal));
        Assert.Contains(Errors(("ModelInterface:Kind", "regression")), e => e.Contains("ModelInterface:Tasks", StringComparison.Ordinal) && e.Contains("applies to ModelInterface:Kind=multitask only", StringComparison.Ordinal));
        Assert.Contains(Errors(("ModelInterface:Tasks", "bottom:classes,digit:regression")), e => e.Contains("class scores must be float [batch, classes ≥ 2]", StringComparison.Ordinal));
        Assert.Contains(Errors(("ModelInterface:Output", "digit")), e => e.Contains("names its outputs in its tasks", StringComparison.Ordinal));
    }
}
