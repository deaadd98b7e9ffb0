using EdgeMlOps.Shared.Onnx.Proto;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// Lifts a graph exported at an older default-domain opset (7–12) to opset 13, which the gradient rules write in, for
/// the train step only (the inference artifact is never touched). Only ops whose meaning is the same at both opsets
/// are kept as they are; those whose attributes became inputs (Squeeze, Unsqueeze, ReduceSum, Split, Clip, Slice) are
/// rewritten with constant inputs (so are TopK's k and Pad's pads and value); Upsample and opset-10 Resize become
/// opset-13 Resize with their coordinates; legacy attributes with their default meaning are dropped (BatchNormalization's
/// spatial=1, Dropout's ratio and is_test); anything else is refused naming the op, so no graph changes meaning.
/// </summary>
internal static class OpsetUpgrade
{
    public const int Target = TrainStepOptions.MinimumOpset;

    /// <summary>Ops with the same meaning from opset 7 to 13 for the attributes they carry.</summary>
    private static readonly HashSet<string> Unchanged = new(StringComparer.Ordinal)
    {
        "Add", "Sub", "Mul", "Div", "Pow", "Neg", "Exp", "Log", "Sqrt", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Erf",
        "Identity", "Conv", "Gemm", "MatMul", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Flatten",
        "Concat", "Transpose", "Reshape", "Gather", "Shape", "Size", "Cast", "ArgMax", "ArgMin", "ReduceMean", "ReduceMax",
        "Constant", "ConstantOfShape", "Equal", "Greater", "Less", "Where", "Not", "And", "Or", "Abs", "Floor", "Ceil",
        "Sum", "Max", "Min", "Tile", "Expand", "Range", "OneHot", "NonZero", "GreaterOrEqual", "LessOrEqual", "Sign", "Round",
        "ReduceMin", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp", "LpNormalization", "Mean",
        "Elu", "Selu", "Celu", "Softplus", "Softsign", "HardSigmoid", "ThresholdedRelu", "PRelu", "Shrink", "Sin", "Cos", "Reciprocal",
        "ConvTranspose", "InstanceNormalization", "DepthToSpace", "SpaceToDepth", "CumSum", "Einsum",
        "GatherElements", "ScatterElements", "ScatterND", "GRU", "LSTM", "RNN", "LRN",
    };

    public static void Apply(ModelProto model)
    {
        var import = model.OpsetImport.First(o => o.Domain is "" or "ai.onnx");
        var from = import.Version;
        if (from >= Target) return;
        if (from < 7) throw new NotDifferentiableException($"the model uses ONNX opset {from}; training needs opset 7 or later (re-export it with a newer opset_version)");
        var graph = model.Graph;
        var counter = 0;
        foreach (var node in graph.Node.Where(n => n.Domain is "" or "ai.onnx").ToList())
        {
            string Refuse(string why) => throw NotDifferentiableException.ForNode(node, $"the model uses ONNX opset {from} and {why}; re-export it at opset {Target} or later");
            switch (node.OpType)
            {
                case "Softmax" or "LogSoftmax":
                    // Before 13 these flatten from `axis` on (default 1); for a [batch, classes] input with axis 1 that is the same as 13's per-axis form.
                    var axis = GraphFacts.AttributeInt(node, "axis", 1);
                    if (axis is not (1 or -1)) Refuse($"{node.OpType} with axis={axis} changed meaning at opset 13");
                    if (node.Attribute.FirstOrDefault(a => a.Name == "axis") is { } old) node.Attribute.Remove(old);
                    node.Attribute.Add(OnnxGraphBuilder.Int("axis", 1));
                    break;
                case "BatchNormalization":
                    if (GraphFacts.AttributeInt(node, "spatial", 1) != 1) Refuse("BatchNormalization with spatial=0 has no opset-13 form");
                    Drop(node, "spatial");
                    if (node.Output.Count > 1) Refuse("BatchNormalization with training outputs");
                    break;
                case "Dropout":
                    Drop(node, "ratio");
                    Drop(node, "is_test");
                    break;
                case "Squeeze" or "Unsqueeze" or "ReduceSum" or "Split":
                    var attribute = node.OpType == "Split" ? "split" : "axes";
                    if (node.Attribute.FirstOrDefault(a => a.Name == attribute) is { } values)
                    {
                        node.Input.Add(AddInts(graph, $"opset13/{attribute}_{counter++}", [.. values.Ints]));
                        node.Attribute.Remove(values);
                    }

                    break;
                case "Slice":
                    if (from >= 10) break;
                    // starts, ends and axes became inputs at opset 10.
                    foreach (var name in new[] { "starts", "ends", "axes" })
                    {
                        if (node.Attribute.FirstOrDefault(a => a.Name == name) is not { } bound) continue;
                        node.Input.Add(AddInts(graph, $"opset13/slice_{name}_{counter++}", [.. bound.Ints]));
                        node.Attribute.Remove(bound);
                    }

                    break;
                case "Upsample" or "Resize":
                    LiftResize(node, from, graph, () => $"opset13/upsample_scales_{counter++}", Refuse);
                    break;
                case "TopK":
                    if (from >= 10) break;
                    // k became an input at opset 10.
                    node.Input.Add(AddInts(graph, $"opset13/topk_k_{counter++}", [GraphFacts.AttributeInt(node, "k", 0)]));
                    Drop(node, "k");
                    break;
                case "Pad":
                    if (from >= 11) break;
                    // pads and the padding value became inputs at opset 11.
                    var padding = node.Attribute.FirstOrDefault(a => a.Name == "pads");
                    if (padding is null || GraphFacts.AttributeFloat(node, "value", 0f) != 0) Refuse("Pad without pads, or padding with a value other than 0");
                    node.Input.Add(AddInts(graph, $"opset13/pads_{counter++}", [.. padding!.Ints]));
                    node.Attribute.Remove(padding);
                    Drop(node, "value");
                    break;
                case "Clip":
                    if (from >= 11) break;
                    var min = GraphFacts.AttributeFloat(node, "min", float.MinValue);
                    var max = GraphFacts.AttributeFloat(node, "max", float.MaxValue);
                    Drop(node, "min");
                    Drop(node, "max");
                    node.Input.Add(AddFloat(graph, $"opset13/clip_min_{counter++}", min));
                    node.Input.Add(AddFloat(graph, $"opset13/clip_max_{counter++}", max));
                    break;
                default:
                    if (!Unchanged.Contains(node.OpType)) Refuse($"{node.OpType} may have changed meaning since then");
                    break;
            }
        }

        import.Version = Target;
    }

    /// <summary>
    /// Upsample (opsets 7–9; scales an attribute before 9) and Resize of opset 10 (X, scales) become opset-13 Resize
    /// (X, no roi, scales) with the coordinates ONNX Runtime runs them with — asymmetric, and for nearest the floor when
    /// upsampling and the ceiling when downsampling; Resize of opsets 11–12 already has the opset-13 inputs.
    /// </summary>
    private static void LiftResize(NodeProto node, long from, GraphProto graph, Func<string> fresh, Func<string, string> refuse)
    {
        if (node.OpType == "Resize" && from >= 11) return;
        var mode = GraphFacts.AttributeString(node, "mode") ?? "nearest";
        if (mode is not ("nearest" or "linear")) refuse($"{node.OpType} mode '{mode}' is not nearest or linear");
        if (node.Attribute.FirstOrDefault(a => a.Name == "scales") is { } scales)
        {
            var name = fresh();
            var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
            tensor.Dims.Add(scales.Floats.Count);
            tensor.FloatData.AddRange(scales.Floats);
            graph.Initializer.Add(tensor);
            node.Input.Add(name);
            node.Attribute.Remove(scales);
        }

        if (node.Input.Count != 2) refuse($"{node.OpType} without scales");
        var rounding = "floor";
        if (mode == "nearest")
        {
            // ONNX Runtime rounds an upsampled coordinate down and a downsampled one up; an opset-13 node has one rounding.
            var factors = new GraphFacts(graph).ConstantFloats(node.Input[1]);
            if (factors is null) refuse($"{node.OpType} nearest with scales computed at run time (the rounding depends on them)");
            else if (factors.Any(f => f < 1) && factors.Any(f => f > 1)) refuse($"{node.OpType} nearest up on one axis and down on another");
            else if (factors.Any(f => f < 1)) rounding = "ceil";
        }

        node.Input.Insert(1, string.Empty); // no roi
        node.OpType = "Resize";
        node.Attribute.Add(OnnxGraphBuilder.Str("coordinate_transformation_mode", "asymmetric"));
        if (mode == "nearest") node.Attribute.Add(OnnxGraphBuilder.Str("nearest_mode", rounding));
    }

    private static void Drop(NodeProto node, string attribute)
    {
        if (node.Attribute.FirstOrDefault(a => a.Name == attribute) is { } found) node.Attribute.Remove(found);
    }

    private static string AddInts(GraphProto graph, string name, long[] values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        tensor.Dims.Add(values.Length);
        tensor.Int64Data.AddRange(values);
        graph.Initializer.Add(tensor);
        return name;
    }

    private static string AddFloat(GraphProto graph, string name, float value)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.FloatData.Add(value);
        graph.Initializer.Add(tensor);
        return name;
    }
}
