using System.Text.Json;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A declared embedding — an intermediate value of the graph monitoring sketches instead of a large raw input — on an
/// image scorer exported by PyTorch (<c>export_image_scorer.py</c>): the device reads it beside the served outputs, the
/// outputs stay what the original file answers, and both equal what PyTorch computed.
/// </summary>
public class TensorEmbeddingTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("image_scorer_expected.json"))).RootElement;

    private static float[] Floats(string name) => [.. Expected.GetProperty(name).EnumerateArray().Select(e => e.GetSingle())];

    private static string EmbeddingName => Expected.GetProperty("embedding").GetString()!;

    private static NamedTensor Images => new("image", TensorElement.Float, [2, 1, 28, 28], Floats("images"));

    [Fact]
    public void AnIntermediateEmbedding_IsReadBesideTheOutputs_AsPyTorchComputedBoth_AndTheOutputsAreTheOriginalFiles()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_image_scorer.onnx"));
        var plain = UploadedClassifier.OpenTensors(bytes, []);
        var watched = UploadedClassifier.OpenTensors(bytes, [], embedding: new TensorEmbedding(EmbeddingName, 16));
        var tensors = watched.Spec.Graph!.Tensors!;
        Assert.Equal([("score", 1), (EmbeddingName, 16)], tensors.Monitored);
        Assert.NotEqual(plain.Spec.ToString(), watched.Spec.ToString()); // the declaration is part of the signed spec
        Assert.Equal(bytes, watched.InferenceBytes(watched.InitialWeights())); // still served byte for byte

        using var original = InferenceModel.Load(bytes, plain.Spec);
        using var model = InferenceModel.Load(bytes, watched.Spec);
        Assert.Equal(ContentHash.Sha256Hex(bytes), model.Sha256); // what the device verified is the uploaded file
        var (outputs, embedding) = model.RunWithEmbedding([Images]);
        Assert.Equal(["score"], outputs.Select(o => o.Name)); // the caller never sees the embedding
        Assert.Equal((float[])original.Run([Images])[0].Data, (float[])outputs[0].Data);
        Assert.Equal((float[])outputs[0].Data, (float[])model.Run([Images])[0].Data);
        AssertClose(Floats("score"), (float[])outputs[0].Data);
        Assert.NotNull(embedding);
        Assert.Equal([2L, 16L], embedding.Dims);
        AssertClose(Floats("embeddingValues"), (float[])embedding.Data);

        var rows = MonitoredOutputs.Rows(tensors, outputs, embedding);
        Assert.Equal(2, rows.Count);
        Assert.Equal(((float[])outputs[0].Data)[1], rows[1][0]);
        Assert.Equal(((float[])embedding.Data)[16..32], rows[1][1..]);
        Assert.Empty(MonitoredOutputs.Rows(tensors, outputs)); // without the embedding's value no row is made up

        // An output declared as the embedding (to sketch more of it than an output's 64 values) is read once.
        var outputAsEmbedding = ModelSpec.ForTensors(plain.Spec.Graph!.Tensors! with { Embedding = new TensorEmbedding("score", 1) });
        Assert.Equal([("score", 1)], outputAsEmbedding.Graph!.Tensors!.Monitored);
        using var scoring = InferenceModel.Load(bytes, outputAsEmbedding);
        var (served, read) = scoring.RunWithEmbedding([Images]);
        Assert.Equal((float[])served.Single().Data, (float[])read!.Data);
    }

    [Fact]
    public void AnEmbeddingTheGraphDoesNotCompute_OrThatIsAnInput_IsRefusedNamingCandidates()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_image_scorer.onnx"));
        var missing = Assert.Throws<InvalidDataException>(() => UploadedClassifier.OpenTensors(bytes, [], embedding: new TensorEmbedding("pooled", 16)));
        Assert.Contains("computes no value named 'pooled'", missing.Message, StringComparison.Ordinal);
        Assert.Contains(EmbeddingName, missing.Message, StringComparison.Ordinal); // the Flatten's output is offered
        var input = Assert.Throws<InvalidDataException>(() => UploadedClassifier.OpenTensors(bytes, [], embedding: new TensorEmbedding("image", 16)));
        Assert.Contains("is an input", input.Message, StringComparison.Ordinal);

        // A file that lacks the value (another model under the same declaration) does not load.
        var other = File.ReadAllBytes(Fixture("mixed_inputs_regressor.onnx"));
        var spec = UploadedClassifier.OpenTensors(other, []).Spec;
        var declared = ModelSpec.ForTensors(spec.Graph!.Tensors! with { Embedding = new TensorEmbedding("hidden", 4) });
        Assert.Contains("computes no value named 'hidden'", Assert.Throws<InvalidDataException>(() => InferenceModel.Load(other, declared)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheEmbedding_TravelsInTheManifest_AndAHostileOneIsRefused()
    {
        var spec = UploadedClassifier.OpenTensors(File.ReadAllBytes(Fixture("pytorch_image_scorer.onnx")), [], embedding: new TensorEmbedding(EmbeddingName, 16)).Spec;
        var architecture = ModelArchitectures.From(spec, []);
        Assert.Equal((EmbeddingName, 16), (architecture.Graph.Tensors.Embedding, architecture.Graph.Tensors.EmbeddingWidth));
        Assert.Equal(spec, ModelArchitectures.ToSpec(architecture));
        Assert.Equal(16, ModelArchitectures.ToSpec(architecture).Graph!.Tensors!.Embedding!.Width);

        var huge = architecture.Clone();
        huge.Graph.Tensors.EmbeddingWidth = int.MaxValue;
        Assert.Contains("values per row", Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(huge)).Message, StringComparison.Ordinal);
        var nameless = architecture.Clone();
        nameless.Graph.Tensors.Embedding = string.Empty;
        Assert.Contains("no name", Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(nameless)).Message, StringComparison.Ordinal);
        var input = architecture.Clone();
        input.Graph.Tensors.Embedding = "image";
        Assert.Contains("is an input", Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(input)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheSessionsBytes_AreTheFileFollowedByOneOutputDeclaration_ReadWithoutParsingTheModel()
    {
        var bytes = File.ReadAllBytes(Fixture("pytorch_image_scorer.onnx"));
        Assert.Equal(["score"], ProtoFields.GraphOutputNames(bytes));
        var merged = EmbeddingExposure.WithOutput(bytes, EmbeddingName);
        Assert.Equal(bytes, merged[..bytes.Length]); // the file's bytes, then the declaration
        Assert.InRange(merged.Length - bytes.Length, 1, 100);
        Assert.Equal(["score", EmbeddingName], ClassifierGraphs.Parse(merged).Graph.Output.Select(o => o.Name)); // protobuf merges the two
        Assert.Equal(new HashSet<string> { "score", EmbeddingName }, ProtoFields.GraphOutputNames(merged));
        Assert.Same(bytes, EmbeddingExposure.WithOutput(bytes, "score")); // already an output: the file as it is
        Assert.Throws<InvalidDataException>(() => ProtoFields.GraphOutputNames(bytes[..(bytes.Length - 3)])); // cut short
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5 + 1e-5 * Math.Abs(expected[i]), $"value {i}: {actual[i]} against PyTorch's {expected[i]}");
    }
}
