using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Proto;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Bench;

/// <summary>
/// The dense classifier's train step as it was written by hand before train steps were generated (kept here only as
/// the baseline the generated graph's speed is measured against; <c>train-step-compare</c>).
/// </summary>
public static class HandBuiltMlpTrainStep
{
    /// <summary>
    /// One SGD step on mean softmax cross-entropy plus the FedProx proximal term
    /// (μ/2)‖w − w_anchor‖² (Li et al. 2020), whose gradient μ(w − w_anchor) is added to each
    /// parameter's; μ = 0 gives plain SGD. The graph depends only on the architecture, so every
    /// version of a model shares the same train-step artifact (same sha256).
    /// </summary>
    public static ModelProto Build(ModelSpec spec)
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

        var x = g.Input(ClassifierGraphs.FeaturesInput, DataType.Float, "batch", spec.InputDim);
        var y = g.Input(ClassifierGraphs.LabelsInput, DataType.Int64, "batch");
        var lr = g.Input(ClassifierGraphs.LearningRateInput, DataType.Float);
        var mu = g.Input(ClassifierGraphs.ProximalMuInput, DataType.Float);
        var wAnchor = new string[layers];
        var bAnchor = new string[layers];
        for (var l = 0; l < layers; l++)
        {
            var (inDim, outDim) = spec.LayerShape(l);
            wAnchor[l] = g.Input(ClassifierGraphs.AnchorName(ParameterLayout.WeightName(l)), DataType.Float, inDim, outDim);
            bAnchor[l] = g.Input(ClassifierGraphs.AnchorName(ParameterLayout.BiasName(l)), DataType.Float, outDim);
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
        g.Node("Neg", [g.Node("ReduceMean", [picked], null, Int("keepdims", 0))], ClassifierGraphs.LossOutput);

        var predicted = g.Node("ArgMax", [logits], null, Int("axis", 1), Int("keepdims", 0));
        var hits = g.Node("Cast", [g.Node("Equal", [predicted, y])], null, Int("to", (long)DataType.Float));
        g.Node("ReduceSum", [hits], ClassifierGraphs.CorrectOutput, Int("keepdims", 0));

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
            g.Node("Sub", [w[l], g.Node("Mul", [g.Node("Add", [dw, proxW]), lr])], ClassifierGraphs.UpdatedName(ParameterLayout.WeightName(l)));
            g.Node("Sub", [b[l], g.Node("Mul", [g.Node("Add", [db, proxB]), lr])], ClassifierGraphs.UpdatedName(ParameterLayout.BiasName(l)));
        }

        for (var l = 0; l < layers; l++)
        {
            var (inDim, outDim) = spec.LayerShape(l);
            g.Output(ClassifierGraphs.UpdatedName(ParameterLayout.WeightName(l)), DataType.Float, inDim, outDim);
            g.Output(ClassifierGraphs.UpdatedName(ParameterLayout.BiasName(l)), DataType.Float, outDim);
        }

        g.Output(ClassifierGraphs.LossOutput, DataType.Float);
        g.Output(ClassifierGraphs.CorrectOutput, DataType.Float);
        return g.Build($"EdgeMlOps train-step graph {spec} (SGD, softmax cross-entropy, FedProx term)");
    }
}
