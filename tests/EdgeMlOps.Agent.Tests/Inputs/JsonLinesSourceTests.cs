using EdgeMlOps.Agent.Inputs;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Agent.Tests.Inputs;

public class JsonLinesSourceTests
{
    [Fact]
    public async Task Pump_LearnsLabelledLines_PredictsTheRest_SkipsAndCountsBadLines()
    {
        await using var device = await OfflineAgent.StartAsync();
        var input = new StringReader(string.Join('\n',
            """{"features":[1,2,3,4],"label":1}""",
            """{"features":[0.5,0.5,0.5,0.5]}""",
            "not json",
            "",
            """{"features":[1,2],"label":0}""",
            """{"label":2}""",
            """{"features":[4,3,2,1],"label":2}"""));
        var source = new JsonLinesSource(input);
        var output = new StringWriter();
        var pump = new InputPump(device.Agent, source, NullLogger.Instance, output);

        await pump.RunAsync(CancellationToken.None);

        Assert.Equal(2, source.BadLines); // "not json" and the line without features
        Assert.Contains("line 6", source.LastError, StringComparison.Ordinal);
        // The 2-feature sample is stored (feedback does not know the model) but cannot be used for training.
        Assert.Equal(3, pump.Learned);
        Assert.Equal(1, pump.Predicted);
        Assert.Equal(2, device.Store.LoadSamples(4).Count);
        var line = output.ToString().Trim();
        Assert.StartsWith("{\"predictionId\":", line, StringComparison.Ordinal);
        Assert.Contains("\"modelVersion\":3", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pump_ForARegressor_LearnsLinesWithATarget_AndWritesValuesForTheRest()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_diabetes_regressor.onnx"));
        var model = EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(bytes, new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("all") { Regression = true });
        await using var serving = await Http.ServingAgent.StartAsync(model, bytes);
        const string X = "0.038,0.051,0.062,0.022,-0.044,-0.035,-0.043,-0.003,0.020,-0.018";
        var input = new StringReader(string.Join('\n',
            $$"""{"features":[{{X}}],"target":[1.51]}""",
            $$"""{"features":[{{X}}]}""",
            $$"""{"features":[{{X}}],"target":[1.51],"label":1}""",
            $$"""{"features":[{{X}}],"target":[1,2]}"""));
        var source = new JsonLinesSource(input);
        var output = new StringWriter();
        var pump = new InputPump(serving.Device.Agent, source, NullLogger.Instance, output);

        await pump.RunAsync(CancellationToken.None);

        Assert.Equal(1, source.BadLines); // a label and a target together
        Assert.Contains("one or the other", source.LastError, StringComparison.Ordinal);
        Assert.Equal((1, 1, 1), (pump.Learned, pump.Predicted, pump.Rejected)); // the two-value target does not fit the model
        Assert.Equal(new[] { 1.51f }, serving.Device.Store.LoadTargets(10, 1).Targets);
        using var answer = System.Text.Json.JsonDocument.Parse(output.ToString().Trim());
        Assert.Equal(2.0607, answer.RootElement.GetProperty("values")[0].GetDouble(), 3);
    }

    [Fact]
    public async Task Pump_ForAModelWithAContextInput_TakesItsInputsByName()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_diabetes_two_inputs.onnx"));
        var model = EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(bytes, new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("all") { Regression = true, Input = "measurements" });
        await using var serving = await Http.ServingAgent.StartAsync(model, bytes);
        const string M = "0.038,0.022,-0.044,-0.035,-0.043,-0.003,0.020,-0.018,0.5";
        var input = new StringReader(string.Join('\n',
            $$$"""{"inputs":{"measurements":[{{{M}}}],"sex":[1]},"target":[1.51]}""",
            $$$"""{"features":[{{{M}}},0]}""",
            $$$"""{"inputs":{"measurements":[{{{M}}}]},"target":[1]}"""));
        var source = new JsonLinesSource(input, layout: () => SampleLayout.Of(serving.Device.Agent.CurrentModel?.Architecture.Graph));
        var pump = new InputPump(serving.Device.Agent, source, NullLogger.Instance, new StringWriter());

        await pump.RunAsync(CancellationToken.None);

        Assert.Equal(1, source.BadLines);
        Assert.Contains("line 3: input 'sex' is missing", source.LastError, StringComparison.Ordinal);
        Assert.Equal((1, 1), (pump.Learned, pump.Predicted));
        var kept = serving.Device.Store.LoadTargets(10, 1);
        Assert.Equal([0.038f, 0.022f, -0.044f, -0.035f, -0.043f, -0.003f, 0.020f, -0.018f, 0.5f, 1f], kept.Features);
    }

    [Fact]
    public async Task Pump_ForAMultiLabelClassifier_LearnsLabelVectors_AndWritesProbabilitiesAndLabelsForTheRest()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_digit_attributes.onnx"));
        var model = EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(bytes, new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("all") { MultiLabel = true });
        await using var serving = await Http.ServingAgent.StartAsync(model, bytes);
        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "digit_attributes_expected.json")));
        var scan = string.Join(',', expected.RootElement.GetProperty("rows").EnumerateArray().Take(64).Select(v => v.GetSingle().ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
        var input = new StringReader(string.Join('\n',
            $$"""{"features":[{{scan}}],"target":[1,0,0,1]}""",
            $$"""{"features":[{{scan}}]}""",
            $$"""{"features":[{{scan}}],"target":[1,0,0.5,1]}"""));
        var source = new JsonLinesSource(input);
        var output = new StringWriter();
        var pump = new InputPump(serving.Device.Agent, source, NullLogger.Instance, output);

        await pump.RunAsync(CancellationToken.None);

        Assert.Equal((1, 1, 1), (pump.Learned, pump.Predicted, pump.Rejected)); // a 0.5 is no label
        Assert.Equal(new[] { 1f, 0, 0, 1 }, serving.Device.Store.LoadTargets(64, 4).Targets);
        using var answer = System.Text.Json.JsonDocument.Parse(output.ToString().Trim());
        var probabilities = expected.RootElement.GetProperty("probabilities").EnumerateArray().Take(4).Select(v => v.GetSingle()).ToArray();
        Assert.All(probabilities.Zip(answer.RootElement.GetProperty("probabilities").EnumerateArray()), p => Assert.Equal(p.First, p.Second.GetSingle(), 5));
        Assert.Equal(new[] { 0, 3 }, answer.RootElement.GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()).ToArray()); // a 0: even, a closed loop
    }
}
