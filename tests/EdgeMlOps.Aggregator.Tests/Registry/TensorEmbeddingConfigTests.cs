using System.Text.Json;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests.Registry;

/// <summary>
/// <c>ModelInterface:Embedding</c>, as an operator types it: the value is found in the graph, its width measured by a
/// run, and the declaration signed in the spec; a value the graph does not compute, one whose width follows a chosen
/// axis, and the key on a classifier are configuration errors naming it; a new version must compute the same value.
/// </summary>
public sealed class TensorEmbeddingConfigTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", name);

    private static readonly string Scorer = Fixture("pytorch_image_scorer.onnx");

    private static readonly string EmbeddingName = JsonDocument.Parse(File.ReadAllText(Fixture("image_scorer_expected.json"))).RootElement.GetProperty("embedding").GetString()!;

    private static AggregatorOptions Read(Dictionary<string, string?> values) =>
        AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(values).Build());

    private static Dictionary<string, string?> Keys(string model, string embedding) =>
        new() { ["Aggregator:Model"] = "onnx:" + model, ["Aggregator:ModelInterface:Kind"] = "tensors", ["Aggregator:ModelInterface:Embedding"] = embedding };

    [Fact]
    public void TheEmbeddingKey_MeasuresTheValuesWidthByARun_AndSignsIt()
    {
        var options = Read(Keys(Scorer, EmbeddingName));
        var tensors = options.Model.Graph!.Tensors!;
        Assert.Equal(new TensorEmbedding(EmbeddingName, 16), tensors.Embedding);
        Assert.Equal(17, tensors.MonitoredWidth); // the score, then the 16 pooled features
        Assert.Same(options.ModelSource!.Spec, options.Model);
        TensorModelProbe.Run(options.ModelSource.Bytes, options.Model, tensors); // the probe reads it too

        // A pre-activation map works as well: 8 channels of 26 × 26, of which the first 512 are sketched.
        var conv = Read(Keys(Scorer, "/features/features.0/Conv_output_0")).Model.Graph!.Tensors!;
        Assert.Equal((8 * 26 * 26, 1 + TensorEmbedding.MaxMonitoredValues), (conv.Embedding!.Width, conv.MonitoredWidth));
    }

    [Fact]
    public void AnEmbeddingThatIsNotThere_OrFollowsAChosenAxis_OrIsDeclaredOnAClassifier_IsAConfigurationError()
    {
        var missing = Assert.Throws<OptionsValidationException>(() => Read(Keys(Scorer, "pool5"))).Errors;
        Assert.Contains(missing, e => e.StartsWith("Aggregator:ModelInterface:Embedding: the graph computes no value named 'pool5'", StringComparison.Ordinal) && e.Contains(EmbeddingName, StringComparison.Ordinal));

        // The GRU's per-frame outputs [1, frames, 16]: 16 values per row at one frame, 32 at two.
        var perFrame = Assert.Throws<OptionsValidationException>(() => Read(Keys(Fixture("pytorch_gru_keyword.onnx"), "/gru/Transpose_1_output_0"))).Errors;
        Assert.Contains(perFrame, e => e.StartsWith("Aggregator:ModelInterface:Embedding: '/gru/Transpose_1_output_0' has 16 values per row with the caller's axes at 1 and 32 at 2", StringComparison.Ordinal));
        var lastStep = Read(Keys(Fixture("pytorch_gru_keyword.onnx"), "/Gather_output_0")).Model.Graph!.Tensors!.Embedding;
        Assert.Equal(16, lastStep!.Width);

        var classifier = Assert.Throws<OptionsValidationException>(() => Read(new() { ["Aggregator:Model"] = "onnx:" + Fixture("pytorch_cnn_digits04.onnx"), ["Aggregator:ModelInterface:Embedding"] = "x" })).Errors;
        Assert.Contains(classifier, e => e.StartsWith("Aggregator:ModelInterface:Embedding: applies only to ModelInterface:Kind=tensors", StringComparison.Ordinal));
    }

    [Fact]
    public void ANewVersion_ThatDoesNotComputeTheFleetsEmbedding_IsRefusedSayingSo()
    {
        var options = Read(Keys(Scorer, EmbeddingName));
        var bytes = File.ReadAllBytes(Scorer);
        Assert.Empty(TensorVersionCheck.Admit(options.ModelSource!, bytes).Values); // the same file is a valid version

        // The same scorer re-exported with its pooled features under another name: same inputs and outputs, no such value.
        var model = ClassifierGraphs.Parse(bytes);
        foreach (var node in model.Graph.Node)
        {
            for (var i = 0; i < node.Output.Count; i++) if (node.Output[i] == EmbeddingName) node.Output[i] = "pooled";
            for (var i = 0; i < node.Input.Count; i++) if (node.Input[i] == EmbeddingName) node.Input[i] = "pooled";
        }

        var renamed = Google.Protobuf.MessageExtensions.ToByteArray(model);
        var refused = Assert.Throws<UploadRefusedException>(() => TensorVersionCheck.Admit(options.ModelSource!, renamed));
        Assert.Contains($"the graph computes no value named '{EmbeddingName}'", refused.Message, StringComparison.Ordinal);
    }
}
