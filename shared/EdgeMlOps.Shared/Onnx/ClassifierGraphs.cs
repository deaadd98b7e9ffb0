using System.Runtime.InteropServices;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx.Training;
using EdgeMlOps.Shared.Onnx.Proto;
using Google.Protobuf;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Shared.Onnx;

/// <summary>
/// Builds the two graphs every model version ships: an <em>inference</em> graph (weights as
/// initializers; outputs class probabilities and label) and a <em>train-step</em> graph in
/// standard ONNX ops (weights, batch, labels and learning rate in; updated weights, loss and the
/// number of correct predictions out). Plain ONNX Runtime inference runs both.
/// </summary>
public static class ClassifierGraphs
{
    public const string FeaturesInput = "features";
    public const string ProbabilitiesOutput = "probabilities";
    public const string LabelOutput = "label";

    public const string LabelsInput = "labels";
    public const string LearningRateInput = "learning_rate";
    public const string ProximalMuInput = "proximal_mu";
    public const string LossOutput = "loss";
    public const string CorrectOutput = "correct";

    /// <summary>A train step's bool output, present when it unrolls a loop only the data ends to a declared bound: true when a batch's loop would have run past it.</summary>
    public const string LoopOverflowOutput = "loop_overflow";

    public const string SpecMetadataKey = "edgemlops.spec";

    /// <summary>The train-step output that carries the updated value of parameter <paramref name="name"/>.</summary>
    public static string UpdatedName(string name) => name + ".new";

    /// <summary>The train-step input holding the global (round start) value of parameter <paramref name="name"/>, the FedProx anchor.</summary>
    public static string AnchorName(string name) => name + ".anchor";

    public static ModelProto BuildInference(ModelWeights weights, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var spec = weights.Spec;
        var g = new OnnxGraphBuilder("inference");
        var x = g.Input(FeaturesInput, DataType.Float, "batch", spec.InputDim);
        var h = x;
        for (var l = 0; l < spec.LayerCount; l++)
        {
            var (inDim, outDim) = spec.LayerShape(l);
            var w = g.Initializer(ParameterLayout.WeightName(l), WeightSpan(weights, ParameterLayout.WeightName(l)), inDim, outDim);
            var b = g.Initializer(ParameterLayout.BiasName(l), WeightSpan(weights, ParameterLayout.BiasName(l)), outDim);
            h = g.Node("Gemm", [h, w, b]);
            if (l < spec.LayerCount - 1) h = g.Node("Relu", [h]);
        }

        g.Node("Softmax", [h], ProbabilitiesOutput, Int("axis", 1));
        g.Node("ArgMax", [h], LabelOutput, Int("axis", 1), Int("keepdims", 0));
        g.Output(ProbabilitiesOutput, DataType.Float, "batch", spec.Classes);
        g.Output(LabelOutput, DataType.Int64, "batch");
        return g.Build($"EdgeMlOps inference graph {spec}", WithSpec(spec, metadata));
    }

    /// <summary>
    /// One SGD step on mean softmax cross-entropy plus the FedProx proximal term (μ/2)‖w − w_anchor‖² (Li et al.
    /// 2020), generated from the inference graph by <see cref="TrainStepGenerator"/> like any uploaded model's; μ = 0
    /// gives plain SGD. The graph depends only on the architecture (every parameter is an input), so every version
    /// of a model shares the same train-step artifact (same sha256).
    /// </summary>
    public static ModelProto BuildTrainStep(ModelSpec spec)
    {
        var inference = BuildInference(new ModelWeights(spec, new float[ParameterLayout.For(spec).TotalLength]));
        var model = TrainStepGenerator.Generate(inference, new TrainStepOptions(ProbabilitiesOutput, TrainingLoss.SoftmaxCrossEntropy)).Model;
        model.DocString = $"EdgeMlOps train-step graph {spec} (SGD, softmax cross-entropy, FedProx term), generated from its inference graph";
        return model;
    }

    /// <summary>Reads the architecture and the weights back out of an inference graph.</summary>
    public static ModelWeights ReadWeights(ModelProto model)
    {
        var specText = model.MetadataProps.FirstOrDefault(p => p.Key == SpecMetadataKey)?.Value
            ?? throw new InvalidDataException($"Model has no '{SpecMetadataKey}' metadata.");
        var spec = ModelSpecText.Parse(specText);
        var layout = ParameterLayout.For(spec);
        var values = new float[layout.TotalLength];
        var byName = model.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (var tensor in layout.Tensors)
        {
            if (!byName.TryGetValue(tensor.Name, out var proto))
            {
                throw new InvalidDataException($"Model lacks initializer '{tensor.Name}'.");
            }

            if (proto.DataType != (int)DataType.Float || !proto.Dims.SequenceEqual(tensor.Dims))
            {
                throw new InvalidDataException($"Initializer '{tensor.Name}' has the wrong type or shape.");
            }

            OnnxTensors.ReadFloats(proto, values.AsSpan(tensor.Offset, tensor.Length));
        }

        return new ModelWeights(spec, values);
    }

    public static ModelProto Parse(ReadOnlySpan<byte> bytes) => ModelProto.Parser.ParseFrom(bytes);

    private static ReadOnlySpan<float> WeightSpan(ModelWeights weights, string name) =>
        weights.Layout.TryGet(name, out var t) ? weights.Values.AsSpan(t.Offset, t.Length) : throw new KeyNotFoundException(name);

    private static Dictionary<string, string> WithSpec(ModelSpec spec, IReadOnlyDictionary<string, string>? metadata)
    {
        var result = metadata is null ? new Dictionary<string, string>() : new Dictionary<string, string>(metadata);
        result[SpecMetadataKey] = spec.ToString();
        return result;
    }
}
