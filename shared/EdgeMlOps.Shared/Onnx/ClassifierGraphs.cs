using System.Runtime.InteropServices;
using EdgeMlOps.Shared.Models;
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
    /// One SGD step on mean softmax cross-entropy plus the FedProx proximal term
    /// (μ/2)‖w − w_anchor‖² (Li et al. 2020), whose gradient μ(w − w_anchor) is added to each
    /// parameter's; μ = 0 gives plain SGD. The graph depends only on the architecture, so every
    /// version of a model shares the same train-step artifact (same sha256).
    /// </summary>
    public static ModelProto BuildTrainStep(ModelSpec spec)
    {
        var g = new OnnxGraphBuilder("train_step");
        var layers = spec.LayerCount;
        var w = new string[layers];
        var b = new string[layers];
        for (var l = 0; l < layers; l++)
        {
            var (inDim, outDim) = spec.LayerShape(l);
            w[l] = g.Input(ParameterLayout.WeightName(l), DataType.Float, inDim, outDim);
            b[l] = g.Input(ParameterLayout.BiasName(l), DataType.Float, outDim);
        }

        var x = g.Input(FeaturesInput, DataType.Float, "batch", spec.InputDim);
        var y = g.Input(LabelsInput, DataType.Int64, "batch");
        var lr = g.Input(LearningRateInput, DataType.Float);
        var mu = g.Input(ProximalMuInput, DataType.Float);
        var wAnchor = new string[layers];
        var bAnchor = new string[layers];
        for (var l = 0; l < layers; l++)
        {
            var (inDim, outDim) = spec.LayerShape(l);
            wAnchor[l] = g.Input(AnchorName(ParameterLayout.WeightName(l)), DataType.Float, inDim, outDim);
            bAnchor[l] = g.Input(AnchorName(ParameterLayout.BiasName(l)), DataType.Float, outDim);
        }

        // Forward, keeping pre-activations (z) and activations (a) for the backward pass.
        var z = new string[layers];
        var a = new string[layers + 1];
        a[0] = x;
        for (var l = 0; l < layers; l++)
        {
            z[l] = g.Node("Gemm", [a[l], w[l], b[l]]);
            a[l + 1] = l < layers - 1 ? g.Node("Relu", [z[l]]) : z[l];
        }

        var logits = z[layers - 1];
        var logProbabilities = g.Node("LogSoftmax", [logits], null, Int("axis", 1));
        var probabilities = g.Node("Exp", [logProbabilities]);
        var oneHot = g.Node("OneHot", [y, g.ScalarInt64("depth", spec.Classes), g.ConstFloat("onoff", 0f, 1f)], null, Int("axis", -1));

        // loss = mean over the batch of -sum_c onehot * log p
        var picked = g.Node("ReduceSum", [g.Node("Mul", [oneHot, logProbabilities]), g.ConstInt64("axis1", 1)], null, Int("keepdims", 0));
        g.Node("Neg", [g.Node("ReduceMean", [picked], null, Int("keepdims", 0))], LossOutput);

        var predicted = g.Node("ArgMax", [logits], null, Int("axis", 1), Int("keepdims", 0));
        var hits = g.Node("Cast", [g.Node("Equal", [predicted, y])], null, Int("to", (long)DataType.Float));
        g.Node("ReduceSum", [hits], CorrectOutput, Int("keepdims", 0));

        // Backward. d loss / d logits = (softmax - onehot) / batch.
        var batchSize = g.Node("Cast", [g.Node("Gather", [g.Node("Shape", [x]), g.ScalarInt64("zero", 0)])], null, Int("to", (long)DataType.Float));
        var dz = g.Node("Div", [g.Node("Sub", [probabilities, oneHot]), batchSize]);
        var axis0 = g.ConstInt64("axis0", 0);
        for (var l = layers - 1; l >= 0; l--)
        {
            var dw = g.Node("Gemm", [a[l], dz], null, Int("transA", 1));
            var db = g.Node("ReduceSum", [dz, axis0], null, Int("keepdims", 0));
            if (l > 0)
            {
                var da = g.Node("Gemm", [dz, w[l]], null, Int("transB", 1));
                var active = g.Node("Cast", [g.Node("Greater", [z[l - 1], g.ConstFloat("zerof", 0f)])], null, Int("to", (long)DataType.Float));
                dz = g.Node("Mul", [da, active]);
            }

            var proxW = g.Node("Mul", [g.Node("Sub", [w[l], wAnchor[l]]), mu]);
            var proxB = g.Node("Mul", [g.Node("Sub", [b[l], bAnchor[l]]), mu]);
            g.Node("Sub", [w[l], g.Node("Mul", [g.Node("Add", [dw, proxW]), lr])], UpdatedName(ParameterLayout.WeightName(l)));
            g.Node("Sub", [b[l], g.Node("Mul", [g.Node("Add", [db, proxB]), lr])], UpdatedName(ParameterLayout.BiasName(l)));
        }

        for (var l = 0; l < layers; l++)
        {
            var (inDim, outDim) = spec.LayerShape(l);
            g.Output(UpdatedName(ParameterLayout.WeightName(l)), DataType.Float, inDim, outDim);
            g.Output(UpdatedName(ParameterLayout.BiasName(l)), DataType.Float, outDim);
        }

        g.Output(LossOutput, DataType.Float);
        g.Output(CorrectOutput, DataType.Float);
        return g.Build($"EdgeMlOps train-step graph {spec} (SGD, softmax cross-entropy, FedProx term)", WithSpec(spec, null));
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

            var target = values.AsSpan(tensor.Offset, tensor.Length);
            if (proto.RawData.Length == tensor.Length * sizeof(float))
            {
                MemoryMarshal.Cast<byte, float>(proto.RawData.Span).CopyTo(target);
            }
            else if (proto.FloatData.Count == tensor.Length)
            {
                proto.FloatData.CopyTo(values, tensor.Offset);
            }
            else
            {
                throw new InvalidDataException($"Initializer '{tensor.Name}' has {proto.RawData.Length} raw bytes, expected {tensor.Length * sizeof(float)}.");
            }
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
