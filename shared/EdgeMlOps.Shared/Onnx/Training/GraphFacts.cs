using EdgeMlOps.Shared.Onnx.Proto;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// What the gradient rules may know statically about a graph's values: initializers and constants, declared
/// shapes, and ranks propagated through the op set the rules cover (unknown elsewhere).
/// </summary>
internal sealed class GraphFacts
{
    private readonly Dictionary<string, TensorProto> _initializers;
    private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ValueInfoProto> _declared = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int?> _ranks = new(StringComparer.Ordinal);
    private readonly ValueDims _dims;

    public GraphFacts(GraphProto graph)
    {
        _dims = new ValueDims(this, graph);
        _initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (var node in graph.Node)
            foreach (var output in node.Output.Where(o => o.Length > 0))
                _producers[output] = node;
        foreach (var info in graph.Input.Concat(graph.ValueInfo).Concat(graph.Output))
            _declared.TryAdd(info.Name, info);
    }

    public TensorProto? Initializer(string name) => _initializers.GetValueOrDefault(name);

    public NodeProto? Producer(string name) => _producers.GetValueOrDefault(name);

    /// <summary>Static dims of an initializer or constant, or null.</summary>
    public long[]? StaticDims(string name)
    {
        if (_initializers.TryGetValue(name, out var tensor)) return [.. tensor.Dims];
        return ConstantNodeValue(name)?.Dims.ToArray();
    }

    /// <summary>The values of an int64 initializer or Constant node, or null when not constant.</summary>
    public long[]? ConstantInts(string name)
    {
        var tensor = _initializers.GetValueOrDefault(name) ?? ConstantNodeValue(name);
        if (tensor is null || tensor.DataType != (int)DataType.Int64) return null;
        if (tensor.Int64Data.Count > 0) return [.. tensor.Int64Data];
        var raw = tensor.RawData.Span;
        var values = new long[raw.Length / 8];
        for (var i = 0; i < values.Length; i++) values[i] = BitConverter.ToInt64(raw.Slice(i * 8, 8));
        return values;
    }

    /// <summary>The extent of each axis of a value where known statically (see <see cref="ValueDims"/>), or null.</summary>
    public long?[]? Dims(string name) => _dims.Of(name);

    /// <summary>As <see cref="Dims"/>, with the extents a value's producer fixes where its declared shape is symbolic (<see cref="ValueDims.Inferred"/>).</summary>
    public long?[]? InferredDims(string name) => _dims.Inferred(name);

    /// <summary>The values of a small int64 tensor of extents (a constant, or built from <c>Shape</c>) where known statically (<see cref="ValueDims.ValuesOf"/>), or null.</summary>
    public long?[]? Values(string name) => _dims.ValuesOf(name);

    /// <summary>
    /// The values of a float initializer or Constant node — or of a Concat of such (PyTorch builds Resize's scales that
    /// way) — or null when not constant.
    /// </summary>
    public float[]? ConstantFloats(string name)
    {
        if (_producers.TryGetValue(name, out var concat) && concat.OpType == "Concat")
        {
            var parts = concat.Input.Select(ConstantFloats).ToArray();
            return parts.All(p => p is not null) ? [.. parts.SelectMany(p => p!)] : null;
        }

        var tensor = _initializers.GetValueOrDefault(name) ?? ConstantNodeValue(name);
        if (tensor is null || tensor.DataType != (int)DataType.Float) return null;
        var values = new float[tensor.Dims.Aggregate(1L, (a, d) => a * d)];
        OnnxTensors.ReadFloats(tensor, values);
        return values;
    }

    /// <summary>The rank of a value when it can be known statically, else null.</summary>
    public int? Rank(string name)
    {
        if (_ranks.TryGetValue(name, out var known)) return known;
        _ranks[name] = null; // cycle guard
        var rank = ComputeRank(name) ?? _dims.Of(name)?.Length;
        _ranks[name] = rank;
        return rank;
    }

    private int? ComputeRank(string name)
    {
        if (StaticDims(name) is { } dims) return dims.Length;
        if (_declared.TryGetValue(name, out var info) && info.Type?.TensorType?.Shape is { } shape) return shape.Dim.Count;
        if (!_producers.TryGetValue(name, out var node)) return null;
        var first = node.Input.Count > 0 ? node.Input[0] : null;
        switch (node.OpType)
        {
            case "Gemm" or "Flatten":
                return 2;
            case "Shape":
                return 1;
            case "Add" or "Sub" or "Mul" or "Div" or "Pow" or "Where" or "Equal" or "Greater" or "Less" or "Max" or "Min" or "Sum":
                var ranks = node.Input.Where(i => i.Length > 0).Select(Rank).ToArray();
                return ranks.All(r => r is not null) ? ranks.Max() : null;
            case "MatMul":
                var (a, b) = (Rank(node.Input[0]), Rank(node.Input[1]));
                return a is null || b is null ? null : a == 1 ? b - 1 : b == 1 ? a - 1 : Math.Max(a.Value, b.Value);
            case "Reshape":
                return ConstantInts(node.Input[1])?.Length;
            case "Unsqueeze":
                return Axes(node, 1) is { } added && first is not null && Rank(first) is int r0 ? r0 + added.Length : null;
            case "Squeeze":
                return Axes(node, 1) is { } removed && first is not null && Rank(first) is int r1 ? r1 - removed.Length : null;
            case "Gather":
                return Rank(node.Input[0]) is int rd && Rank(node.Input[1]) is int ri ? rd + ri - 1 : null;
            case "ReduceSum" or "ReduceMean" or "ReduceMax":
                if (first is null || Rank(first) is not int rr) return null;
                if (AttributeInt(node, "keepdims", 1) == 1) return rr;
                return Axes(node, 1) is { } reduced ? rr - reduced.Length : null;
            case "ArgMax" or "ArgMin":
                return first is not null && Rank(first) is int ra ? (AttributeInt(node, "keepdims", 1) == 1 ? ra : ra - 1) : null;
            case "Expand": // the larger of the input's rank and the target shape's length
                return first is not null && Rank(first) is int re && _dims.Of(node.Input[1]) is [long length] ? Math.Max(re, (int)length) : null;
            case "Constant" or "ConstantOfShape" or "Size" or "NonZero" or "Range" or "OneHot":
                return null;
            default:
                // Element-wise and rank-preserving ops (activations, normalisations, pooling, Conv, Transpose, Concat, Slice, Tile, Cast...).
                return first is null ? null : Rank(first);
        }
    }

    /// <summary>The axes of a Squeeze/Unsqueeze/Reduce node: its attribute (older opsets) or its constant input.</summary>
    public long[]? Axes(NodeProto node, int inputIndex)
    {
        var attribute = node.Attribute.FirstOrDefault(a => a.Name == "axes");
        if (attribute is not null) return [.. attribute.Ints];
        return node.Input.Count > inputIndex && node.Input[inputIndex].Length > 0 ? ConstantInts(node.Input[inputIndex]) : null;
    }

    public static long AttributeInt(NodeProto node, string name, long fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.I : fallback;

    public static float AttributeFloat(NodeProto node, string name, float fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.F : fallback;

    public static long[]? AttributeInts(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? [.. a.Ints] : null;

    public static string? AttributeString(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.S.ToStringUtf8() : null;

    private TensorProto? ConstantNodeValue(string name) =>
        _producers.TryGetValue(name, out var node) && node.OpType == "Constant"
            ? node.Attribute.FirstOrDefault(a => a.Name == "value")?.T
            : null;
}
