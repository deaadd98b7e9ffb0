using EdgeMlOps.Shared.Onnx.Proto;
using Google.Protobuf;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// Appends nodes and constants to an existing graph under fresh names that cannot collide with the user's, in
/// the floating-point type of the model being differentiated. Constants are shared by value.
/// </summary>
internal sealed class GraphWriter
{
    private readonly GraphProto _graph;
    private readonly HashSet<string> _taken;
    private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);
    private int _counter;

    public GraphWriter(GraphProto graph, DataType elementType)
    {
        _graph = graph;
        ElementType = elementType;
        _taken = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            _taken.UnionWith(node.Output);
            _taken.Add(node.Name);
        }

        _taken.UnionWith(graph.Input.Select(i => i.Name));
        _taken.UnionWith(graph.Initializer.Select(i => i.Name));
    }

    /// <summary>Float or double: the type of every gradient.</summary>
    public DataType ElementType { get; }

    public GraphProto Graph => _graph;

    /// <summary>For each loop only the data ends, unrolled to its declared bound: a bool scalar, true when it would still run after the bound.</summary>
    public List<string> Overflows { get; } = [];

    /// <summary>Nodes control-flow unrolling has copied into the graph so far, those of bodies nested in them included.</summary>
    public long Unrolled { get; set; }

    public string Fresh(string hint)
    {
        string name;
        do name = $"grad/{hint}_{_counter++}";
        while (!_taken.Add(name));
        return name;
    }

    /// <summary>Adds a node with one output and returns it.</summary>
    public string Node(string opType, IEnumerable<string> inputs, params AttributeProto[] attributes) =>
        Nodes(opType, inputs, 1, attributes)[0];

    /// <summary>Adds a node with <paramref name="outputs"/> fresh outputs and returns them.</summary>
    public string[] Nodes(string opType, IEnumerable<string> inputs, int outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Fresh("n_" + opType) };
        node.Input.AddRange(inputs);
        var names = Enumerable.Range(0, outputs).Select(_ => Fresh(opType)).ToArray();
        node.Output.AddRange(names);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return names;
    }

    /// <summary>Adds a node whose single output has the given name.</summary>
    public void NodeTo(string output, string opType, IEnumerable<string> inputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Fresh("n_" + opType) };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
    }

    /// <summary>A scalar of the model's floating-point type.</summary>
    public string Scalar(double value) => Constant("s:" + value.ToString("R", System.Globalization.CultureInfo.InvariantCulture), () => FloatTensor(value, scalar: true));

    /// <summary>A 1-D constant of the model's floating-point type.</summary>
    public string Floats(params double[] values) => Constant("f:" + string.Join(',', values.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture))), () =>
    {
        var tensor = new TensorProto { DataType = (int)ElementType };
        tensor.Dims.Add(values.Length);
        if (ElementType == DataType.Double) tensor.DoubleData.AddRange(values);
        else tensor.FloatData.AddRange(values.Select(v => (float)v));
        return tensor;
    });

    /// <summary>A 1-D int64 constant.</summary>
    public string Int64s(params long[] values) => Constant("i:" + string.Join(',', values), () =>
    {
        var tensor = new TensorProto { DataType = (int)DataType.Int64 };
        tensor.Dims.Add(values.Length);
        tensor.Int64Data.AddRange(values);
        return tensor;
    });

    /// <summary>The attribute value of a ConstantOfShape that fills with <paramref name="value"/> in the model's type.</summary>
    public AttributeProto Fill(double value) => OnnxGraphBuilder.Tensor("value", FloatTensor(value, scalar: false));

    /// <summary>The Cast target attribute for the model's type.</summary>
    public AttributeProto CastToElement() => OnnxGraphBuilder.Int("to", (long)ElementType);

    // ---- Composite helpers used by several gradient rules ----

    public string Shape(string value) => Node("Shape", [value]);

    /// <summary>The rank of <paramref name="value"/> as an int64 scalar.</summary>
    public string RankScalar(string value) => Node("Size", [Shape(value)]);

    /// <summary>
    /// Sums <paramref name="grad"/> (the gradient of a broadcast result) down to the shape of <paramref name="like"/>:
    /// over the leading axes <paramref name="like"/> lacks and over every axis where it has extent 1. Works on
    /// dynamic shapes; summing over an axis of extent 1 in both is a no-op.
    /// </summary>
    public string SumToShapeOf(string grad, string like, long[]? likeDims = null, int? gradRank = null)
    {
        if (likeDims is not null && gradRank is int rank && likeDims.Length <= rank)
        {
            var lead = rank - likeDims.Length;
            var axes = Enumerable.Range(0, rank).Where(a => a < lead || likeDims[a - lead] == 1).Select(a => (long)a).ToArray();
            if (axes.Length == 0) return grad;
            var summed = Node("ReduceSum", [grad, Int64s(axes)], OnnxGraphBuilder.Int("keepdims", 1));
            return Node("Reshape", [summed, Int64s(likeDims)]);
        }

        var likeShape = Shape(like);
        var extra = Node("Sub", [RankScalar(grad), Node("Size", [likeShape])]);
        var ones = Node("ConstantOfShape", [Node("Unsqueeze", [extra, Int64s(0)])], OnnxGraphBuilder.Tensor("value", Int64Fill(1)));
        var padded = Node("Concat", [ones, likeShape], OnnxGraphBuilder.Int("axis", 0));
        var oneAxes = Node("Reshape", [Node("NonZero", [Node("Equal", [padded, Int64s(1)])]), Int64s(-1)]);
        var reduced = Node("ReduceSum", [grad, oneAxes], OnnxGraphBuilder.Int("keepdims", 1), OnnxGraphBuilder.Int("noop_with_empty_axes", 1));
        return Node("Reshape", [reduced, likeShape]);
    }

    /// <summary>The number of elements of <paramref name="value"/> in the model's floating-point type.</summary>
    public string CountOf(string value) => Node("Cast", [Node("Size", [value])], CastToElement());

    /// <summary>Reshapes a per-channel vector [C] so it broadcasts over axis 1 of <paramref name="like"/> ([N, C, ...]).</summary>
    public string PerChannel(string vector, string like)
    {
        var spatial = Node("Sub", [RankScalar(like), Int64s(2)]);
        var ones = Node("ConstantOfShape", [spatial], OnnxGraphBuilder.Tensor("value", Int64Fill(1)));
        var shape = Node("Concat", [Int64s(-1), ones], OnnxGraphBuilder.Int("axis", 0));
        return Node("Reshape", [vector, shape]);
    }

    /// <summary>Every axis of <paramref name="like"/> except axis 1 (the channel axis), as an int64 vector.</summary>
    public string AxesExceptChannel(string like) =>
        Node("Concat", [Int64s(0), Node("Range", [Int64Constant(2), RankScalar(like), Int64Constant(1)])], OnnxGraphBuilder.Int("axis", 0));

    /// <summary>A rank-0 int64 constant.</summary>
    public string Int64Constant(long value) => Constant($"l:{value}", () => Int64Scalar(value));

    private static TensorProto Int64Fill(long value)
    {
        var tensor = Int64Scalar(value);
        tensor.Dims.Add(1);
        return tensor;
    }

    private static TensorProto Int64Scalar(long value)
    {
        var tensor = new TensorProto { DataType = (int)DataType.Int64 };
        tensor.Int64Data.Add(value);
        return tensor;
    }

    private TensorProto FloatTensor(double value, bool scalar)
    {
        var tensor = new TensorProto { DataType = (int)ElementType };
        if (!scalar) tensor.Dims.Add(1);
        if (ElementType == DataType.Double) tensor.DoubleData.Add(value);
        else tensor.FloatData.Add((float)value);
        return tensor;
    }

    private string Constant(string key, Func<TensorProto> make)
    {
        if (_constants.TryGetValue(key, out var name)) return name;
        var tensor = make();
        tensor.Name = Fresh("const");
        _graph.Initializer.Add(tensor);
        _constants[key] = tensor.Name;
        return tensor.Name;
    }
}
