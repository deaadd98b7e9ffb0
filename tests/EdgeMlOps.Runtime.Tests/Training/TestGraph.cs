using EdgeMlOps.Shared.Onnx.Proto;
using Google.Protobuf;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>Writes small test graphs in float or double: inputs, random parameters, nodes, one output.</summary>
internal sealed class TestGraph(DataType type = DataType.Double, int opset = 17)
{
    private readonly GraphProto _graph = new() { Name = "test" };
    private readonly Random _random = new(3);
    private int _counter;

    public Dictionary<string, Feed> Feeds { get; } = new(StringComparer.Ordinal);

    /// <summary>A graph input with random standard-normal values (scaled), fed by the probe.</summary>
    public string Input(string name, long[] dims, double scale = 1)
    {
        _graph.Input.Add(Info(name, type, dims));
        Feeds[name] = new Feed(dims, Normal(dims, scale));
        return name;
    }

    /// <summary>An int64 graph input with the given values.</summary>
    public string IntInput(string name, long[] dims, long[] values)
    {
        _graph.Input.Add(Info(name, DataType.Int64, dims));
        Feeds[name] = new Feed(dims, Ints: values);
        return name;
    }

    /// <summary>A float initializer with random values (the default trainable set picks it up).</summary>
    public string Param(string name, long[] dims, double scale = 0.5, double offset = 0)
    {
        var values = Normal(dims, scale).Select(v => v + offset).ToArray();
        var tensor = new TensorProto { Name = name, DataType = (int)type };
        tensor.Dims.AddRange(dims);
        if (type == DataType.Double) tensor.DoubleData.AddRange(values);
        else tensor.FloatData.AddRange(values.Select(v => (float)v));
        _graph.Initializer.Add(tensor);
        return name;
    }

    public string Ints(params long[] values)
    {
        var tensor = new TensorProto { Name = $"ints{_counter++}", DataType = (int)DataType.Int64 };
        tensor.Dims.Add(values.Length);
        tensor.Int64Data.AddRange(values);
        _graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>A 1-D float constant (whatever the graph's type), e.g. Resize's scales.</summary>
    public string Floats(params float[] values)
    {
        var tensor = new TensorProto { Name = $"floats{_counter++}", DataType = (int)DataType.Float };
        tensor.Dims.Add(values.Length);
        tensor.FloatData.AddRange(values);
        _graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    public string Node(string op, string[] inputs, params AttributeProto[] attributes) => Nodes(op, inputs, 1, attributes)[0];

    public string[] Nodes(string op, string[] inputs, int outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = $"{op}_{_counter}" };
        node.Input.AddRange(inputs);
        var names = Enumerable.Range(0, outputs).Select(i => $"{op}_{_counter}_out{i}").ToArray();
        _counter++;
        node.Output.AddRange(names);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return names;
    }

    /// <summary>Declares <paramref name="value"/> as the graph output "y" (through an Identity) and returns the model.</summary>
    public ModelProto Model(string value, int rank)
    {
        Node("Identity", [value]).ToString();
        _graph.Node[^1].Output[0] = "y";
        var shape = new TensorShapeProto();
        for (var i = 0; i < rank; i++) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = $"d{i}" });
        _graph.Output.Add(new ValueInfoProto { Name = "y", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } });
        var model = new ModelProto { IrVersion = 8, Graph = _graph, ProducerName = "test" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = opset });
        return model;
    }

    /// <summary>Output "y" of <paramref name="model"/> as ONNX Runtime computes it at the model's own opset, from float (and int64) feeds.</summary>
    public static float[] Run(ModelProto model, Dictionary<string, Feed> feeds)
    {
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(model.ToByteArray());
        var names = feeds.Keys.ToArray();
        var values = feeds.Values.Select(f => f.Ints is { } ints
            ? Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(ints, f.Dims)
            : Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(f.Values!.Select(v => (float)v).ToArray(), f.Dims)).ToArray();
        try
        {
            using var runOptions = new Microsoft.ML.OnnxRuntime.RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
            using var results = session.Run(runOptions, names, values, ["y"]);
            return results[0].GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            foreach (var value in values) value.Dispose();
        }
    }

    private double[] Normal(long[] dims, double scale)
    {
        var count = dims.Aggregate(1L, (a, b) => a * b);
        return Enumerable.Range(0, (int)count).Select(_ => scale * Math.Sqrt(-2 * Math.Log(1 - _random.NextDouble())) * Math.Cos(2 * Math.PI * _random.NextDouble())).ToArray();
    }

    private static ValueInfoProto Info(string name, DataType type, long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
    }
}
