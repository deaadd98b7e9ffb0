using EdgeMlOps.Shared.Onnx.Proto;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// Chooses which initializers a train step trains, the way an operator says it: <c>all</c>, <c>last:N</c> (the
/// parameters of the last N layers — nodes that hold a floating-point tensor of rank ≥ 1 at a differentiable input,
/// in graph order — a loop's or branch's layers where it stands —, a bias Add straight after its MatMul or Conv
/// counting with it), or a comma-separated list of names.
/// </summary>
public static class TrainableSelection
{
    /// <summary>The names the selection picks; null for <c>all</c> (every parameter the loss depends on).</summary>
    public static IReadOnlyList<string>? Resolve(ModelProto model, string selection)
    {
        var text = selection.Trim();
        if (text is "all" or "") return null;
        if (text.StartsWith("last:", StringComparison.Ordinal))
        {
            if (!int.TryParse(text.AsSpan(5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var count) || count < 1)
                throw new NotDifferentiableException($"'{selection}': expected last:N with N ≥ 1");
            return LastLayers(model, count);
        }

        return [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
    }

    /// <summary>The parameters of the last <paramref name="count"/> layers, in graph order.</summary>
    public static IReadOnlyList<string> LastLayers(ModelProto model, int count)
    {
        var parameters = model.Graph.Initializer
            .Where(t => t.Dims.Count > 0 && t.DataType is (int)TensorProto.Types.DataType.Float or (int)TensorProto.Types.DataType.Double)
            .Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var layers = new List<List<string>>();
        var lastOutputs = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in ControlFlowInlining.AllNodes(model.Graph)) // a loop's or branch's layers where the loop or branch stands
        {
            var held = node.Input.Where((input, i) => parameters.Contains(input) && GradientRules.IsDifferentiableInput(node.OpType, i)).ToList();
            if (held.Count == 0) continue;
            // A bias added straight after a MatMul or Conv (how exporters write x @ W + b) belongs to that layer.
            if (node.OpType == "Add" && layers.Count > 0 && node.Input.Any(lastOutputs.Contains)) layers[^1].AddRange(held);
            else layers.Add(held);
            lastOutputs = [.. node.Output];
        }

        if (layers.Count < count) throw new NotDifferentiableException($"last:{count} asks for {count} layers; the model has {layers.Count} with parameters");
        return [.. layers.Skip(layers.Count - count).SelectMany(held => held).Distinct(StringComparer.Ordinal)];
    }
}
