using System.Globalization;
using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;

namespace EdgeMlOps.Aggregator.Tests.Evaluation;

public class HeldOutFileTests
{
    private static string Write(params string[] lines)
    {
        var path = Path.Combine(AggregatorFixture.TempDirectory(), "eval.jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    private static string Sample(Random random, string? cohort = null)
    {
        var features = string.Join(',', Enumerable.Range(0, 4).Select(_ => (random.NextDouble() * 2 - 1).ToString("R", CultureInfo.InvariantCulture)));
        return $"{{\"features\":[{features}],\"label\":{random.Next(2)}{(cohort is null ? string.Empty : $",\"cohort\":\"{cohort}\"")}}}";
    }

    [Fact]
    public void EveryBadLine_IsReportedWithItsNumber_AndNoneIsUsed()
    {
        var random = new Random(1);
        var path = Write(Sample(random), "{\"features\":[1,2,3],\"label\":0}", Sample(random), "{\"features\":[1,2,3,4],\"label\":7}", "not json", "", "{\"features\":[1,2,3,\"x\"],\"label\":1}");
        var ex = Assert.Throws<InvalidDataException>(() => HeldOutFile.Load(path, AggregatorFixture.Spec));
        Assert.Contains("line 2: 3 features, the model takes 4", ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 4: 'label' must be an integer in [0, 2)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 5: not JSON", ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 7: feature 3 is not a finite number", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("line 6", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Held-out scans of 6 to 8 frames for a fleet whose samples vary (<c>frames=6..8</c>): each length scored on its own
    /// and weighted by its count, overall and per cohort, explanations reading the whole scans; 5 frames is a bad line.
    /// </summary>
    [Fact]
    public void SamplesOfSeveralLengths_AreEachScoredAtTheirLength_WeightedByTheirCount()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_digit_frames.onnx"));
        var spec = Shared.Onnx.UploadedClassifier.Open(bytes, new Shared.Onnx.UploadedClassifierOptions("all") { AxisLengths = [("frames", 8)], Varying = ("frames", 6) }).Spec;
        var random = new Random(3);
        var samples = Enumerable.Range(0, 30).Select(i => (Row: Enumerable.Range(0, (6 + (i % 3)) * 8).Select(_ => (float)random.Next(17)).ToArray(), Label: (long)random.Next(10))).ToList();
        var evaluator = HeldOutFile.Load(Write([.. samples.Select(s => $"{{\"features\":[{string.Join(',', s.Row)}],\"label\":{s.Label}}}")]), spec);

        using var model = Runtime.InferenceModel.Load(bytes, spec);
        var byLength = samples.GroupBy(s => s.Row.Length).Select(g => model.Evaluate([.. g.SelectMany(s => s.Row)], [.. g.Select(s => s.Label)])).ToList();
        var score = evaluator.Evaluate(model);
        Assert.Equal((30, 30), (evaluator.Count, score.Samples));
        Assert.Equal(byLength.Sum(e => e.Accuracy * e.Samples) / 30, score.Accuracy, 9);
        Assert.Equal(byLength.Sum(e => e.Loss * e.Samples) / 30, score.Loss, 9);
        Assert.Equal(score.Accuracy, evaluator.EvaluateCohorts(model)[Runtime.InferenceModel.AllCohorts].Accuracy, 9);
        Assert.Equal(samples.Count(s => s.Label == 3), evaluator.EvaluateCohorts(model)["class=3"].Samples);
        Assert.Equal(10, evaluator.Rows!.Count); // the whole scans
        Assert.Equal(640, evaluator.Rows.Features.Length);

        var ex = Assert.Throws<InvalidDataException>(() => HeldOutFile.Load(Write($"{{\"features\":[{string.Join(',', new float[40])}],\"label\":1}}"), spec));
        Assert.Contains("line 1: 40 features, the model takes 6 to 8 'frames' (48 to 64 values in steps of 8)", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A string input's held-out values are strings by name, kept as the category index a device keeps; an unknown one is the model's unknown.</summary>
    [Fact]
    public void AModelWithAStringInput_TakesItsStringsByName_AsTheSameRowsDevicesKeep()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_diabetes_string_sex.onnx"));
        var spec = EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(bytes, new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("all") { Regression = true, Input = "measurements" }).Spec;
        const string M = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9";
        using var model = EdgeMlOps.Runtime.InferenceModel.Load(bytes, spec);
        double Loss(string line) => HeldOutFile.Load(Write(line), spec).Evaluate(model).Loss;
        Assert.Equal(Loss($$"""{"features":[{{M}},1],"target":[1.5]}"""), Loss($$$"""{"inputs":{"sex":["2"],"measurements":[{{{M}}}]},"target":[1.5]}"""), 6);
        Assert.Equal(Loss($$"""{"features":[{{M}},2],"target":[1.5]}"""), Loss($$$"""{"inputs":{"sex":["9"],"measurements":[{{{M}}}]},"target":[1.5]}"""), 6);
        Assert.NotEqual(Loss($$"""{"features":[{{M}},0],"target":[1.5]}"""), Loss($$"""{"features":[{{M}},2],"target":[1.5]}"""), 6);

        var ex = Assert.Throws<InvalidDataException>(() => HeldOutFile.Load(Write($$$"""{"inputs":{"sex":[1],"measurements":[{{{M}}}]},"target":[1]}""", $$"""{"features":[{{M}},3],"target":[1]}"""), spec));
        Assert.Contains("line 1: inputs.sex 0 is not a string (one of its 2 categories", ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 2: feature 9 is 3, not a category index (a whole number in [0, 2]", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AModelWithAContextInput_TakesRowsOrInputsByName_AndIdsAreChecked()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_diabetes_two_inputs.onnx"));
        var spec = EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(bytes, new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("all") { Regression = true, Input = "measurements" }).Spec;
        const string M = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9";
        var flat = $$"""{"features":[{{M}},1],"target":[1.5]}""";
        var both = HeldOutFile.Load(Write(flat, $$$"""{"inputs":{"sex":[1],"measurements":[{{{M}}}]},"target":[1.5]}"""), spec);
        using var model = EdgeMlOps.Runtime.InferenceModel.Load(bytes, spec);
        Assert.Equal(2, both.Count);
        Assert.Equal(HeldOutFile.Load(Write(flat), spec).Evaluate(model).Loss, both.Evaluate(model).Loss, 6); // the same row either way
        Assert.NotEqual(HeldOutFile.Load(Write($$"""{"features":[{{M}},0],"target":[1.5]}"""), spec).Evaluate(model).Loss, both.Evaluate(model).Loss, 6); // and the id is fed

        var bad = Write(
            $$"""{"features":[{{M}},0.5],"target":[1]}""",
            $$$"""{"inputs":{"measurements":[{{{M}}}]},"target":[1]}""",
            $$$"""{"inputs":{"measurements":[{{{M}}}],"sex":[1],"age":[3]},"target":[1]}""",
            $$$"""{"features":[{{{M}}},1],"inputs":{"sex":[1]},"target":[1]}""",
            $$$"""{"inputs":{"measurements":[0.1],"sex":[1]},"target":[1]}""");
        var ex = Assert.Throws<InvalidDataException>(() => HeldOutFile.Load(bad, spec));
        Assert.Contains("line 1: feature 9 is 0.5, not an id (a whole number in [0, 16777216)) for input 'sex'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 2: input 'sex' is missing", ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 3: the model has no input 'age'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 4: send 'features' or 'inputs', not both", ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 5: input 'measurements' takes an array of 9 numbers", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'inputs' sends an uploaded model's inputs by name", Assert.Throws<InvalidDataException>(() =>
            HeldOutFile.Load(Write("""{"inputs":{"features":[1,2,3,4]},"label":1}"""), AggregatorFixture.Spec)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ABoolContextInput_TakesFlags_AndAValueThatIsNotOneIsReported()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_masked_readings.onnx"));
        var spec = EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(bytes, new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("all") { Input = "readings" }).Spec;
        const string R = "1,2,3,4,5,6,7,8";
        var named = HeldOutFile.Load(Write($$$"""{"inputs":{"readings":[{{{R}}}],"valid":[1,0,1,1,0,1,1,1]},"label":2}"""), spec);
        var flat = HeldOutFile.Load(Write($$"""{"features":[{{R}},1,0,1,1,0,1,1,1],"label":2}"""), spec);
        using var model = EdgeMlOps.Runtime.InferenceModel.Load(bytes, spec);
        Assert.Equal(flat.Evaluate(model).Loss, named.Evaluate(model).Loss, 6); // the same row either way

        var ex = Assert.Throws<InvalidDataException>(() => HeldOutFile.Load(Write($$$"""{"inputs":{"readings":[{{{R}}}],"valid":[1,0,1,1,0.5,1,1,1]},"label":2}"""), spec));
        Assert.Contains("line 1: feature 12 is 0.5, not a flag (0 or 1) for input 'valid'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DeclaredAttributes_BecomeGroupsBesideTheCohort_AndBadOnesAreReported()
    {
        var path = Write(
            """{"features":[1,2,3,4],"label":1,"cohort":"hw=pi4","attributes":{"region":"north","age":"30-39"}}""",
            """{"features":[1,2,3,4],"label":0}""");
        var rows = HeldOutFile.Load(path, AggregatorFixture.Spec).Rows!;
        Assert.Equal(["hw=pi4", "age=30-39", "region=north"], rows.Groups[0]);
        Assert.Equal(["class=0"], rows.Groups[1]);

        var bad = Write(
            """{"features":[1,2,3,4],"label":1,"attributes":{"a=b":"x"}}""",
            """{"features":[1,2,3,4],"label":1,"attributes":{"age":7}}""",
            """{"features":[1,2,3,4],"label":1,"attributes":["age"]}""");
        var ex = Assert.Throws<InvalidDataException>(() => HeldOutFile.Load(bad, AggregatorFixture.Spec));
        Assert.Contains("line 1: attribute name 'a=b' must be 1 to 64 characters without '='", ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 2: attribute 'age' must be a string", ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 3: 'attributes' must be an object of strings", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AGovernedFleetWithAHeldOutFile_ValidatesVersions_InsteadOfHoldingThemForReview()
    {
        var random = new Random(2);
        var path = Write(Enumerable.Range(0, 200).Select(i => Sample(random, i % 2 == 0 ? "hw=pi4" : "hw=jetson")).ToArray());
        var evaluator = HeldOutFile.Load(path, AggregatorFixture.Spec);
        Assert.Equal(200, evaluator.Count);

        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with { Governance = new GovernanceOptions { Mode = DeploymentMode.Governed } };
        await using var node = new AggregatorNode(options, evaluator: evaluator);
        await node.StartAsync(CancellationToken.None);
        var v2 = await node.RegisterVersionAsync(node.CurrentWeights.Clone(), "dana", "same weights", CancellationToken.None);

        var record = node.Registry.Version("tiny", v2.Version)!;
        Assert.Equal(VersionStates.Validated, record.State);
        Assert.NotNull(record.EvalAccuracy);
        Assert.Contains("hw=jetson", node.Registry.Evaluation("tiny", v2.Version), StringComparison.Ordinal);
    }

    [Fact]
    public void ARegressorsHeldOutFile_TakesTargets_AndScoresMseAndRSquared()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_diabetes_regressor.onnx"));
        var spec = EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(bytes, new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("all") { Regression = true }).Spec;
        var rows = Enumerable.Range(0, 4).Select(i => Enumerable.Range(0, 10).Select(j => ((i * 10) + j) / 100f).ToArray()).ToArray();
        float[] targets = [0.5f, 1.5f, 2.5f, 1f];
        var path = Write([.. rows.Select((r, i) => $$"""{"features":[{{string.Join(',', r.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}}],"target":[{{targets[i].ToString("R", System.Globalization.CultureInfo.InvariantCulture)}}]}""")]);
        var evaluator = HeldOutFile.Load(path, spec);
        Assert.Equal(4, evaluator.Count);
        using var model = EdgeMlOps.Runtime.InferenceModel.Load(bytes, spec);
        var predicted = model.PredictValues([.. rows.SelectMany(r => r)], 4).Values;
        var mse = predicted.Zip(targets).Average(p => (double)(p.First - p.Second) * (p.First - p.Second));
        Assert.Equal(mse, evaluator.Evaluate(model).Loss, 6);
        Assert.Null(evaluator.Rows); // explanations read class probabilities: no rows for them

        // A label where a target belongs, or a target of the wrong width: every bad line named, none used.
        var bad = Write("""{"features":[0,0,0,0,0,0,0,0,0,0],"label":1}""", """{"features":[0,0,0,0,0,0,0,0,0,0],"target":[1,2]}""");
        var ex = Assert.Throws<InvalidDataException>(() => HeldOutFile.Load(bad, spec));
        Assert.Contains("line 1: 'target' must be an array of 1 numbers (this model is a regressor)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 2: 'target' must be an array of 1 numbers", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AMultiLabelClassifiersHeldOutFile_TakesLabelVectors_AndScoresLabelAccuracy()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_digit_attributes.onnx"));
        var spec = EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(bytes, new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("all") { MultiLabel = true }).Spec;
        var rows = Enumerable.Range(0, 3).Select(i => Enumerable.Range(0, 64).Select(j => ((i * 7) + j) % 17 / 16f).ToArray()).ToArray();
        float[][] labels = [[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 1]];
        var path = Write([.. rows.Select((r, i) => $$"""{"features":[{{string.Join(',', r.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}}],"target":[{{string.Join(',', labels[i])}}]}""")]);
        var evaluator = HeldOutFile.Load(path, spec);
        Assert.Equal(3, evaluator.Count);
        using var model = EdgeMlOps.Runtime.InferenceModel.Load(bytes, spec);
        var p = model.PredictValues([.. rows.SelectMany(r => r)], 3).Values;
        var right = p.Zip(labels.SelectMany(l => l)).Count(x => (x.First > 0.5f) == (x.Second > 0.5f));
        Assert.Equal(right / 12.0, evaluator.Evaluate(model).Accuracy, 6);

        // A label that is not 0 or 1, or a vector of the wrong width: every bad line named, none used.
        var zeros = string.Join(',', new int[64]);
        var bad = Write($$"""{"features":[{{zeros}}],"target":[1,0.5,0,0]}""", $$"""{"features":[{{zeros}}],"target":[1,0]}""");
        var ex = Assert.Throws<InvalidDataException>(() => HeldOutFile.Load(bad, spec));
        Assert.Contains("line 1: target 1 is 0.5: a label is 0 or 1", ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 2: 'target' must be an array of 4 0s and 1s, one per label (this model is a multi-label classifier)", ex.Message, StringComparison.Ordinal);
    }
}
