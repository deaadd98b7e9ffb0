using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Configuration;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests.Registry;

/// <summary>
/// <c>ModelInterface:Kind=regression</c>, as an operator types it: PyTorch's diabetes regressor becomes the fleet's model,
/// probed (its values and one MSE train step) before any device sees it; what does not apply to a regressor is a
/// configuration error naming the key.
/// </summary>
public sealed class RegressionConfigTests
{
    private static readonly string Regressor = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_diabetes_regressor.onnx");

    private static AggregatorOptions Read(params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Aggregator:Model"] = "onnx:" + Regressor, ["Aggregator:ModelInterface:Kind"] = "regression", ["Aggregator:ModelInterface:Trainable"] = "all",
        };
        foreach (var (key, value) in extra) settings["Aggregator:" + key] = value;
        return AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
    }

    [Fact]
    public void KindRegression_MakesTheFileTheFleetsRegressor_ProbedWithItsMseStep()
    {
        var options = Read();
        Assert.True(options.Model.IsRegressor);
        Assert.Equal((10, 1, 0, "progression"), (options.Model.InputDim, options.Model.Targets, options.Model.Classes, options.Model.Graph!.ScoresOutput));
        Assert.Equal(["hidden.weight", "hidden.bias", "head.weight", "head.bias"], options.Model.Graph.Trained.Select(t => t.Name));
        UploadedModelProbe.Run(options.ModelSource!);
    }

    [Fact]
    public void KindRegression_OnTheSecondOfTwoOutputs_WithSeveralAxes_IsTheFleetsRegressor_ProbedWithItsMseStep()
    {
        var completion = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_digit_completion.onnx");
        var options = Read(("Model", "onnx:" + completion), ("ModelInterface:Output", "bottom"));
        Assert.Equal((32, 32, "bottom"), (options.Model.InputDim, options.Model.Targets, options.Model.Graph!.ScoresOutput));
        Assert.Equal([4L, 8L], options.Model.Graph.ValuesDims);
        Assert.Equal(["trunk.weight", "trunk.bias", "complete.weight", "complete.bias"], options.Model.Graph.Trained.Select(t => t.Name)); // the digit head does not reach the loss
        UploadedModelProbe.Run(options.ModelSource!);
    }

    [Fact]
    public void KindPositions_MakesTheFileTheFleetsPerPositionClassifier_ProbedAndScoredOnHeldOutClassIdsPerPixel()
    {
        var segmenter = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_digit_segmenter.onnx");
        var options = Read(("Model", "onnx:" + segmenter), ("ModelInterface:Kind", "positions"));
        Assert.True(options.Model.IsPerPosition);
        Assert.Equal((64, 64, 0, 11), (options.Model.InputDim, options.Model.Targets, options.Model.Classes, options.Model.Graph!.PositionClasses));
        UploadedModelProbe.Run(options.ModelSource!);

        // Evaluation:DataFile lines carry a class id per pixel; the score is PyTorch's per-pixel cross-entropy.
        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "digit_segmenter_expected.json")));
        var pixels = expected.RootElement.GetProperty("pixels").EnumerateArray().Select(v => v.GetSingle().ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var classes = expected.RootElement.GetProperty("classes").EnumerateArray().Select(v => v.GetSingle().ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        string Line(int row, string[]? target = null) => $"{{\"features\":[{string.Join(',', pixels[(row * 64)..((row + 1) * 64)])}],\"target\":[{string.Join(',', target ?? classes[(row * 64)..((row + 1) * 64)])}]}}";
        var file = Path.Combine(AggregatorFixture.TempDirectory(), "segments.jsonl");
        File.WriteAllLines(file, Enumerable.Range(0, 6).Select(row => Line(row)));
        using var model = EdgeMlOps.Runtime.InferenceModel.Load(options.ModelSource!.Bytes, options.Model);
        Assert.Equal(expected.RootElement.GetProperty("loss").GetDouble(), EdgeMlOps.Aggregator.Evaluation.HeldOutFile.Load(file, options.Model).Evaluate(model).Loss, 4);
        File.WriteAllLines(file, [Line(0, [.. classes[..63], "11"])]);
        Assert.Contains("a position's class id is a whole number below 11", Assert.Throws<InvalidDataException>(() => EdgeMlOps.Aggregator.Evaluation.HeldOutFile.Load(file, options.Model)).Message, StringComparison.Ordinal);

        // A tagger's [batch, steps, classes]: ModelInterface:ClassAxis=last; anywhere else the key is an error naming it.
        var tagger = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_digit_row_tagger.onnx");
        var tagged = Read(("Model", "onnx:" + tagger), ("ModelInterface:Kind", "positions"), ("ModelInterface:ClassAxis", "last"));
        Assert.Equal((8, 11, true), (tagged.Model.Targets, tagged.Model.Graph!.PositionClasses, tagged.Model.Graph.ClassAxisLast));
        UploadedModelProbe.Run(tagged.ModelSource!);
        var misplaced = Assert.Throws<OptionsValidationException>(() => Read(("ModelInterface:ClassAxis", "last"))).Errors;
        Assert.Contains(misplaced, e => e.Contains("ModelInterface:ClassAxis", StringComparison.Ordinal) && e.Contains("for ModelInterface:Kind=positions only", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AHeldOutScoreThatIsNotANumber_IsKeptAsNone_AndTheVersionsStillList()
    {
        // Two held-out patients with the same progression: R² has no spread to explain (0 / 0). Kept as a number, it
        // would make the version list (GET /v1/models/{name}/versions) fail to write: JSON has no NaN.
        var options = Read() with { DataDirectory = AggregatorFixture.TempDirectory(), EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0" };
        await using var node = new AggregatorNode(options, evaluator: new EdgeMlOps.Aggregator.Evaluation.HeldOutTargetsEvaluator(new float[20], [1.5f, 1.5f], 1));
        var v1 = node.Registry.Version(options.ModelName, node.CurrentVersion.Version)!;
        Assert.Null(v1.EvalAccuracy);
        Assert.True(v1.EvalLoss is > 0);
        Assert.Contains("\"evalAccuracy\":null", System.Text.Json.JsonSerializer.Serialize(node.Registry.Versions(options.ModelName), System.Text.Json.JsonSerializerOptions.Web), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ACohortWhoseScoreIsNotANumber_IsRecordedWithoutOne_AndNeverGated()
    {
        // Two cohorts of one patient each: the whole set's R² is a number, each cohort's is not (0 / 0). The governed
        // validation records every cohort's comparison as JSON with the version; a NaN there must not stop the version.
        var options = Read(("Governance:Mode", "governed")) with { DataDirectory = AggregatorFixture.TempDirectory(), EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0" };
        await using var node = new AggregatorNode(options, evaluator: new EdgeMlOps.Aggregator.Evaluation.HeldOutTargetsEvaluator(new float[20], [1.5f, 2.5f], 1, ["north", "south"]));
        var v1 = node.Registry.Version(options.ModelName, node.CurrentVersion.Version)!;
        Assert.NotNull(v1.EvalAccuracy);
        using var evaluation = System.Text.Json.JsonDocument.Parse(node.Registry.Evaluation(options.ModelName, v1.Version)!);
        var north = evaluation.RootElement.EnumerateArray().Single(c => c.GetProperty("cohort").GetString() == "north");
        Assert.Equal((System.Text.Json.JsonValueKind.Null, false), (north.GetProperty("candidate").ValueKind, north.GetProperty("gated").GetBoolean()));
    }

    [Fact]
    public void WhatDoesNotApplyToARegressor_IsAnErrorNamingTheKey()
    {
        var logits = Assert.Throws<OptionsValidationException>(() => Read(("ModelInterface:Scores", "logits"))).Errors;
        Assert.Contains(logits, e => e.Contains("ModelInterface:Scores", StringComparison.Ordinal) && e.Contains("not a regressor's values", StringComparison.Ordinal));
        Assert.True(Read(("Pipeline:Enabled", "true"), ("Governance:Mode", "governed")).Pipeline.Rollout.Shadow is not null); // its shadow is judged on squared errors
        var kind = Assert.Throws<OptionsValidationException>(() => Read(("ModelInterface:Kind", "regressor"))).Errors;
        Assert.Contains(kind, e => e.Contains("'regressor' is not classifier, regression, multilabel, positions, multitask or tensors", StringComparison.Ordinal));
    }

    private static readonly string Attributes = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_digit_attributes.onnx");

    [Fact]
    public void KindMultiLabel_MakesTheFileTheFleetsMultiLabelClassifier_ProbedWithItsCrossEntropyStep()
    {
        var options = Read(("Model", "onnx:" + Attributes), ("ModelInterface:Kind", "multilabel"));
        Assert.True(options.Model.IsMultiLabel);
        Assert.Equal((64, 4, 0, "attributes", false), (options.Model.InputDim, options.Model.Targets, options.Model.Classes, options.Model.Graph!.ScoresOutput, options.Model.Graph.ScoresAreLogits));
        UploadedModelProbe.Run(options.ModelSource!);
        Assert.True(Read(("Model", "onnx:" + Attributes), ("ModelInterface:Kind", "multilabel"), ("ModelInterface:Scores", "logits")).Model.Graph!.ScoresAreLogits);
    }

    [Fact]
    public void AFileWhoseScoresAreNotProbabilities_IsRefusedAsAMultiLabelClassifier_NamingTheValue()
    {
        // The diabetes regressor's progression values (around 1.5) declared as one label's probability: the probe says they are not.
        var options = Read(("ModelInterface:Kind", "multilabel"), ("ModelInterface:Scores", "probabilities"));
        var ex = Assert.Throws<InvalidDataException>(() => UploadedModelProbe.Run(options.ModelSource!));
        Assert.Contains("not a probability (declare ModelInterface:Scores=logits if it makes logits)", ex.Message, StringComparison.Ordinal);

        // Undeclared, scores no Sigmoid makes are read as logits (served through a sigmoid), and any finite value is one.
        var inferred = Read(("ModelInterface:Kind", "multilabel"));
        Assert.True(inferred.Model.Graph!.ScoresAreLogits);
        UploadedModelProbe.Run(inferred.ModelSource!);
    }
}
