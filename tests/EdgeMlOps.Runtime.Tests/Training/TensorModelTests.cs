using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// Uploaded models that are not classifiers, served by tensor names: a regressor over float, string and int64 inputs
/// (built with python3-onnx, an ai.onnx.ml CategoryMapper inside), a stateful GRU keyword scorer exported by PyTorch
/// (its state carried between calls) and ML.NET's pretrained ResNet18 featurizer (batch fixed at 1, an embedding out).
/// Outputs are compared with what PyTorch, numpy or ONNX Runtime on the original file computed.
/// </summary>
public class TensorModelTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("tensor_models_expected.json"))).RootElement;

    private static float[] Floats(string name) => [.. Expected.GetProperty(name).EnumerateArray().Select(e => e.GetSingle())];

    [Fact]
    public void ARegressorOverFloatStringAndIntegerInputs_IsReadFromItsGraph_AndAnswersAsNumpyComputed()
    {
        var bytes = File.ReadAllBytes(Fixture("mixed_inputs_regressor.onnx"));
        var uploaded = UploadedClassifier.OpenTensors(bytes, []);
        var tensors = uploaded.Spec.Graph!.Tensors!;
        Assert.False(uploaded.Spec.IsClassifier);
        Assert.False(uploaded.Spec.Trainable);
        Assert.Null(uploaded.TrainStep);
        Assert.Equal(["reading:float[-1,3]", "site:string[-1,1]", "count:int64[-1,1]"], tensors.Inputs.Select(t => t.CanonicalText));
        Assert.Equal(["value:float[-1,1]", "site_code:int64[-1,1]"], tensors.Outputs.Select(t => t.CanonicalText));
        Assert.Equal(uploaded.Bytes, uploaded.InferenceBytes(uploaded.InitialWeights())); // served byte for byte
        Assert.StartsWith("tensors-", uploaded.Spec.ToString(), StringComparison.Ordinal);

        using var model = InferenceModel.Load(bytes, uploaded.Spec);
        var outputs = model.Run(
        [
            new NamedTensor("reading", TensorElement.Float, [3, 3], Floats("reading")),
            new NamedTensor("site", TensorElement.String, [3, 1], Expected.GetProperty("site").EnumerateArray().Select(e => e.GetString()!).ToArray()),
            new NamedTensor("count", TensorElement.Int64, [3, 1], Expected.GetProperty("count").EnumerateArray().Select(e => e.GetInt64()).ToArray()),
        ]);
        Assert.Equal(["value", "site_code"], outputs.Select(o => o.Name));
        Assert.Equal([3L, 1L], outputs[0].Dims);
        Assert.Equal(Floats("value"), (float[])outputs[0].Data);
        Assert.Equal(Expected.GetProperty("site_code").EnumerateArray().Select(e => e.GetInt64()), (long[])outputs[1].Data); // "west" is unknown: 3
    }

    [Fact]
    public void AStatefulGruFedInChunks_CarryingItsState_AnswersAsPyTorchOverTheWholeSequence()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_gru_keyword.onnx"));
        var uploaded = UploadedClassifier.OpenTensors(bytes, [("h_in", "h_out")]);
        var tensors = uploaded.Spec.Graph!.Tensors!;
        Assert.Equal(["frames:float[1,-1,8]"], tensors.CallerInputs.Select(t => t.CanonicalText));

        using var model = InferenceModel.Load(bytes, uploaded.Spec);
        var frames = Floats("frames");
        var state = NamedTensor.Zeros(tensors.Inputs.Single(t => t.Name == "h_in"));
        IReadOnlyList<NamedTensor> outputs = [];
        foreach (var (start, count) in new[] { (0, 4), (4, 5), (9, 3) })
        {
            outputs = model.Run([new NamedTensor("frames", TensorElement.Float, [1, count, 8], frames[(start * 8)..((start + count) * 8)]), state with { Name = "h_in" }]);
            state = outputs.Single(o => o.Name == "h_out");
        }

        var score = (float[])outputs.Single(o => o.Name == "score").Data;
        Assert.Equal(Floats("score")[0], score[0], 5);
        var hidden = (float[])state.Data;
        var expected = Floats("h_out");
        Assert.All(Enumerable.Range(0, 16), i => Assert.Equal(expected[i], hidden[i], 5));

        // Without the state (zeros every call) the last chunk alone answers differently: the state is what carries.
        var alone = model.Run([new NamedTensor("frames", TensorElement.Float, [1, 3, 8], frames[72..]), NamedTensor.Zeros(tensors.Inputs.Single(t => t.Name == "h_in"))]);
        Assert.NotEqual(score[0], ((float[])alone[0].Data)[0], 4);
    }

    [Fact]
    public void APretrainedResNet18_WithAFixedBatchAndAnEmbeddingOutput_AnswersAsOnnxRuntimeOnTheOriginalFile()
    {
        var bytes = File.ReadAllBytes(Fixture("ResNet18.onnx"));
        var uploaded = UploadedClassifier.OpenTensors(bytes, []);
        var input = uploaded.Spec.Graph!.Tensors!.Inputs.Single();
        Assert.Equal([1L, 3, 224, 224], input.Dims);
        var output = uploaded.Spec.Graph.Tensors.Outputs.Single();
        Assert.Equal([1L, 512, 1, 1], output.Dims);

        var random = new Random(3);
        var image = Enumerable.Range(0, 3 * 224 * 224).Select(_ => (float)random.NextDouble()).ToArray();
        using var model = InferenceModel.Load(bytes, uploaded.Spec);
        var served = (float[])model.Run([new NamedTensor(input.Name, TensorElement.Float, [1, 3, 224, 224], image)]).Single().Data;

        using var session = new InferenceSession(bytes);
        using var feed = OrtValue.CreateTensorValueFromMemory(image, [1, 3, 224, 224]);
        using var runOptions = new RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
        using var original = session.Run(runOptions, [input.Name], [feed], [output.Name]);
        Assert.Equal(original[0].GetTensorDataAsSpan<float>().ToArray(), served);
    }

    public static TheoryData<string, string> BadRequests => new()
    {
        { "wrong type", "input 'count' must be int64" },
        { "wrong shape", "input 'reading' has shape [2, 4]; declared [-1, 3]" },
        { "too few values", "input 'reading' has 5 values for shape [2, 3]" },
        { "missing", "input 'count' is missing" },
        { "undeclared", "the model has no input 'extra'" },
        { "not finite", "input 'reading' value 2 is not a finite number" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public void ABadInput_IsRefusedSayingWhich(string kind, string message)
    {
        var bytes = File.ReadAllBytes(Fixture("mixed_inputs_regressor.onnx"));
        using var model = InferenceModel.Load(bytes, UploadedClassifier.OpenTensors(bytes, []).Spec);
        var reading = new NamedTensor("reading", TensorElement.Float, [2, 3], new float[6]);
        var site = new NamedTensor("site", TensorElement.String, [2, 1], new[] { "north", "east" });
        var count = new NamedTensor("count", TensorElement.Int64, [2, 1], new long[2]);
        List<NamedTensor> inputs = kind switch
        {
            "wrong type" => [reading, site, count with { Type = TensorElement.Float, Data = new float[2] }],
            "wrong shape" => [reading with { Dims = [2, 4], Data = new float[8] }, site, count],
            "too few values" => [reading with { Data = new float[5] }, site, count],
            "missing" => [reading, site],
            "undeclared" => [reading, site, count, count with { Name = "extra" }],
            _ => [reading with { Data = new[] { 0f, 1f, float.NaN, 0f, 0f, 0f } }, site, count],
        };
        var error = Assert.Throws<ArgumentException>(() => model.Run(inputs));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StatesAndOutputsThatDoNotFitTheGraph_AreRefusedSayingWhy()
    {
        var gru = File.ReadAllBytes(Fixture("pytorch_gru_keyword.onnx"));
        Assert.Contains("state frames>h_out", Assert.Throws<InvalidDataException>(() => UploadedClassifier.OpenTensors(gru, [("frames", "h_out")])).Message, StringComparison.Ordinal);
        Assert.Contains("no output 'h_next'", Assert.Throws<InvalidDataException>(() => UploadedClassifier.OpenTensors(gru, [("h_in", "h_next")])).Message, StringComparison.Ordinal);
        Assert.Contains("the graph has no output 'logits'", Assert.Throws<InvalidDataException>(() => UploadedClassifier.OpenTensors(gru, [], ["logits"])).Message, StringComparison.Ordinal);

        // A file that is not the one the signed interface declares is not served.
        var regressor = File.ReadAllBytes(Fixture("mixed_inputs_regressor.onnx"));
        var error = Assert.Throws<InvalidDataException>(() => InferenceModel.Load(gru, UploadedClassifier.OpenTensors(regressor, []).Spec));
        Assert.Contains("no input 'reading'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheInterface_TravelsInTheManifest_AndAManifestMixingItWithAClassifiersFields_IsRefused()
    {
        var spec = UploadedClassifier.OpenTensors(File.ReadAllBytes(Fixture("pytorch_gru_keyword.onnx")), [("h_in", "h_out")]).Spec;
        var architecture = ModelArchitectures.From(spec, []);
        Assert.Equal(spec, ModelArchitectures.ToSpec(architecture));
        Assert.Equal(spec.ToString(), ModelArchitectures.ToSpec(architecture).ToString());

        var withClasses = architecture.Clone();
        withClasses.Classes = 10;
        Assert.Contains("declares no features, classes", Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(withClasses)).Message, StringComparison.Ordinal);
        var unknownType = architecture.Clone();
        unknownType.Graph.Tensors.Inputs[0].Type = "1";
        Assert.Contains("unknown element type '1'", Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(unknownType)).Message, StringComparison.Ordinal);
        var badState = architecture.Clone();
        badState.Graph.Tensors.States[0].Output = "score";
        Assert.Contains("same fixed shape", Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(badState)).Message, StringComparison.Ordinal);
        var flood = architecture.Clone();
        for (var i = 0; i < 70; i++) flood.Graph.Tensors.Outputs.Add(new EdgeMlOps.Shared.Protocol.V1.TensorSignatureSpec { Name = $"o{i}", Type = "float" });
        Assert.Contains("more than 64", Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(flood)).Message, StringComparison.Ordinal);
    }
}
