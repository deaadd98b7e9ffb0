using EdgeMlOps.Shared.Onnx.Proto;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Shared.Onnx;

/// <summary>
/// The structural rules of ONNX's own checker (onnx.checker.check_model) that decide whether a graph is well formed,
/// in C#, each broken rule reported as one sentence naming the node or value: IR version and opset imports, values
/// defined before use and produced once (SSA, topological order), outputs produced, typed inputs and outputs,
/// initializers whose data fits their declared shape. Operator semantics (attributes, type constraints) are left to
/// ONNX Runtime, which loads the model next.
/// </summary>
public static class OnnxModelCheck
{
    /// <summary>Oldest and newest IR versions accepted (IR 3 is ONNX 1.0's; ONNX Runtime reads up to 11).</summary>
    public const long MinIrVersion = 3, MaxIrVersion = 11;

    /// <summary>The oldest default-domain opset ONNX Runtime guarantees to run (older ones load "depending upon legacy support").</summary>
    public const long MinDefaultOpset = 7;

    /// <summary>Operator domains ONNX Runtime's CPU provider implements.</summary>
    public static readonly IReadOnlySet<string> KnownDomains = new HashSet<string>(StringComparer.Ordinal) { "", "ai.onnx", "ai.onnx.ml", "com.microsoft" };

    /// <summary>
    /// A domain imported twice (ONNX's checker reads the last import, ONNX Runtime and the train step could each read
    /// another: one file, two meanings), and a default-domain opset older than ONNX Runtime guarantees.
    /// </summary>
    private static void OpsetProblems(ModelProto model, List<string> problems)
    {
        foreach (var domain in model.OpsetImport.GroupBy(o => o.Domain is "" ? "ai.onnx" : o.Domain, StringComparer.Ordinal).Where(g => g.Count() > 1))
            problems.Add($"opset domain '{domain.Key}' is imported twice (versions {string.Join(", ", domain.Select(o => o.Version))}); a domain is imported once");
        foreach (var import in model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx" && o.Version < MinDefaultOpset))
            problems.Add($"ai.onnx opset {import.Version} is older than {MinDefaultOpset}, the oldest ONNX Runtime guarantees to run (export with a newer opset)");
    }

    public static IReadOnlyList<string> Problems(ModelProto model)
    {
        var problems = new List<string>();
        if (model.IrVersion is < MinIrVersion or > MaxIrVersion) problems.Add($"IR version {model.IrVersion} is outside the supported {MinIrVersion}–{MaxIrVersion}");
        if (!model.OpsetImport.Any(o => o.Domain is "" or "ai.onnx")) problems.Add("the model imports no default-domain (ai.onnx) opset");
        foreach (var import in model.OpsetImport.Where(o => !KnownDomains.Contains(o.Domain)))
            problems.Add($"opset domain '{import.Domain}' is not one ONNX Runtime implements (custom operators cannot run on devices)");
        OpsetProblems(model, problems);
        if (model.Graph is not { } graph)
        {
            problems.Add("the model has no graph");
            return problems;
        }

        var defined = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in graph.Input)
        {
            CheckTyped(input, "input", problems);
            if (!defined.Add(input.Name)) problems.Add($"input '{input.Name}' is declared twice");
        }

        var initializers = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tensor in graph.Initializer)
        {
            if (!initializers.Add(tensor.Name)) problems.Add($"initializer '{tensor.Name}' is declared twice");
            defined.Add(tensor.Name);
            if (DataProblem(tensor) is { } problem) problems.Add(problem);
        }

        var imported = model.OpsetImport.Select(o => o.Domain is "ai.onnx" ? "" : o.Domain).ToHashSet(StringComparer.Ordinal);
        for (var i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            var label = $"node {i} '{(string.IsNullOrEmpty(node.Name) ? node.Output.FirstOrDefault() : node.Name)}' ({node.OpType})";
            if (string.IsNullOrEmpty(node.OpType)) problems.Add($"{label} has no operator type");
            var domain = node.Domain is "ai.onnx" ? "" : node.Domain;
            if (!imported.Contains(domain)) problems.Add($"{label} uses domain '{node.Domain}', which the model does not import");
            foreach (var input in node.Input.Where(n => n.Length > 0 && !defined.Contains(n)))
                problems.Add($"{label} reads '{input}', which no input, initializer or earlier node produces");
            foreach (var output in node.Output.Where(n => n.Length > 0))
                if (!defined.Add(output)) problems.Add($"{label} writes '{output}', which is already defined (every value is produced once)");
        }

        foreach (var output in graph.Output)
        {
            CheckTyped(output, "output", problems);
            if (!defined.Contains(output.Name)) problems.Add($"output '{output.Name}' is produced by no node");
        }

        if (graph.Output.Count == 0) problems.Add("the graph has no outputs");
        return problems;
    }

    /// <summary>Operators used, by domain-qualified name, most frequent first.</summary>
    public static IReadOnlyList<(string Op, int Count)> OpHistogram(ModelProto model) =>
        [.. model.Graph.Node.GroupBy(n => n.Domain is "" or "ai.onnx" ? n.OpType : $"{n.Domain}.{n.OpType}")
            .Select(g => (g.Key, g.Count())).OrderByDescending(p => p.Item2).ThenBy(p => p.Key, StringComparer.Ordinal)];

    /// <summary>A value's type and shape as text: <c>float [batch, 1, 28, 28]</c>.</summary>
    public static string Describe(ValueInfoProto value)
    {
        var tensor = value.Type?.TensorType;
        if (tensor is null) return value.Type?.ValueCase.ToString() ?? "untyped";
        var dims = tensor.Shape is null ? "[?]" : $"[{string.Join(", ", tensor.Shape.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture) : d.DimParam is { Length: > 0 } p ? p : "?"))}]";
        return $"{((DataType)tensor.ElemType).ToString().ToLowerInvariant()} {dims}";
    }

    private static void CheckTyped(ValueInfoProto value, string role, List<string> problems)
    {
        if (value.Type is null || value.Type.ValueCase == TypeProto.ValueOneofCase.None) problems.Add($"{role} '{value.Name}' has no type");
        else if (value.Type.TensorType is { ElemType: 0 }) problems.Add($"{role} '{value.Name}' has no element type");
    }

    private static string? DataProblem(TensorProto tensor)
    {
        var elements = tensor.Dims.Aggregate(1L, (a, d) => d < 0 ? -1 : a * d);
        if (elements < 0) return $"initializer '{tensor.Name}' has a negative dimension";
        var size = (DataType)tensor.DataType switch
        {
            DataType.Float or DataType.Int32 or DataType.Uint32 => 4,
            DataType.Double or DataType.Int64 or DataType.Uint64 => 8,
            DataType.Float16 or DataType.Int16 or DataType.Uint16 => 2,
            DataType.Int8 or DataType.Uint8 or DataType.Bool => 1,
            _ => 0,
        };
        var shape = $"[{string.Join(", ", tensor.Dims)}]";
        if (!tensor.RawData.IsEmpty)
            return size > 0 && tensor.RawData.Length != elements * size ? $"initializer '{tensor.Name}' declares {shape} {(DataType)tensor.DataType} ({elements * size} bytes) but holds {tensor.RawData.Length}" : null;
        var count = tensor.FloatData.Count + tensor.DoubleData.Count + tensor.Int32Data.Count + tensor.Int64Data.Count + tensor.StringData.Count + tensor.Uint64Data.Count;
        if (count == elements) return null;
        var hint = count == 0 ? " (weights saved as external data? save the model with them inside: onnx.save(model, path, save_as_external_data=False))" : string.Empty;
        return $"initializer '{tensor.Name}' declares {shape} ({elements} values) but holds {count}{hint}";
    }
}
