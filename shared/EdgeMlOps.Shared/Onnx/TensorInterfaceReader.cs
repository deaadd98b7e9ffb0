using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx.Proto;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Shared.Onnx;

/// <summary>
/// Reads the tensor interface of an uploaded model that is not a classifier from its graph: every input that is not
/// an initializer, the outputs (all, or the ones named), their element types and shapes (a symbolic or missing axis is
/// one the caller chooses), and checks the declared state pairs against them.
/// </summary>
public static class TensorInterfaceReader
{
    /// <summary>Throws <see cref="InvalidDataException"/> saying which tensor cannot be served and why.</summary>
    public static TensorInterface Read(ModelProto model, byte[] bytes, IReadOnlyList<(string Input, string Output)> states, IReadOnlyList<string>? outputs = null)
    {
        var initializers = model.Graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var inputs = model.Graph.Input.Where(i => !initializers.Contains(i.Name)).Select(i => Signature(i, "input")).ToList();
        var served = outputs is null
            ? model.Graph.Output.ToList()
            : [.. outputs.Select(name => model.Graph.Output.FirstOrDefault(o => o.Name == name) ?? throw new InvalidDataException($"the graph has no output '{name}' (outputs: {string.Join(", ", model.Graph.Output.Select(o => o.Name))})"))];
        try
        {
            return new TensorInterface(inputs, [.. served.Select(o => Signature(o, "output"))], states, ContentHash.Sha256Hex(bytes));
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException(ex.Message, ex);
        }
    }

    /// <summary>
    /// <paramref name="tensors"/> fronted by the preprocessing graph in <paramref name="bytes"/>: its inputs are what
    /// callers feed, and each of its outputs feeds the model input of the same name (of the same element type and rank;
    /// sizes are checked per run). Throws <see cref="InvalidDataException"/> naming what does not fit.
    /// </summary>
    public static TensorInterface Fronted(TensorInterface tensors, ModelProto model, byte[] bytes)
    {
        var initializers = model.Graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var inputs = model.Graph.Input.Where(i => !initializers.Contains(i.Name)).Select(i => Signature(i, "preprocessing input")).ToList();
        var outputs = model.Graph.Output.Select(o => Signature(o, "preprocessing output")).ToList();
        foreach (var made in outputs)
        {
            if (tensors.Inputs.FirstOrDefault(i => i.Name == made.Name) is { } fed && (fed.Type != made.Type || fed.Dims.Count != made.Dims.Count))
                throw new InvalidDataException($"the preprocessing output {made.CanonicalText} cannot feed the model input {fed.CanonicalText}");
        }

        try
        {
            var preprocess = new TensorPreprocess(ContentHash.Sha256Hex(bytes), bytes.LongLength, inputs, [.. outputs.Select(o => o.Name)]);
            return new TensorInterface(tensors.Inputs, tensors.Outputs, tensors.States, tensors.SourceSha256, preprocess);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException(ex.Message.Replace("Invalid tensor interface: ", string.Empty, StringComparison.Ordinal), ex);
        }
    }

    /// <summary>
    /// Input–output pairs that could be a recurrent state (the same element type and the same fixed shape, each input and output in one
    /// pair only), for the operator to confirm as <c>ModelInterface:State</c>; the file alone cannot say which output feeds which input.
    /// </summary>
    public static IReadOnlyList<(string Input, string Output)> StateCandidates(ModelProto model, byte[] bytes)
    {
        var all = Read(model, bytes, [], [.. model.Graph.Output.Where(o => o.Type?.TensorType?.Shape is not null).Select(o => o.Name)]);
        var pairs = (from i in all.Inputs from o in all.Outputs where i.Type == o.Type && !i.Dims.Contains(-1) && i.Dims.SequenceEqual(o.Dims) select (Input: i.Name, Output: o.Name)).ToList();
        // Only unambiguous pairs: an input or output that could pair two ways is for the operator to name.
        return [.. pairs.Where(p => pairs.Count(q => q.Input == p.Input) == 1 && pairs.Count(q => q.Output == p.Output) == 1)];
    }

    private static TensorSignature Signature(ValueInfoProto value, string role)
    {
        var tensor = value.Type?.TensorType ?? throw new InvalidDataException($"{role} '{value.Name}' is {OnnxModelCheck.Describe(value)}, not a tensor; name the outputs to serve (ModelInterface:Outputs)");
        var type = (DataType)tensor.ElemType switch
        {
            DataType.Float => TensorElement.Float,
            DataType.Double => TensorElement.Double,
            DataType.Int64 => TensorElement.Int64,
            DataType.Int32 => TensorElement.Int32,
            DataType.Bool => TensorElement.Bool,
            DataType.String => TensorElement.String,
            _ => throw new InvalidDataException($"{role} '{value.Name}' is {OnnxModelCheck.Describe(value)}; devices move float, double, int64, int32, bool and string tensors"),
        };
        if (tensor.Shape is null) throw new InvalidDataException($"{role} '{value.Name}' has no shape in the file; export it with one (its rank at least)");
        try
        {
            return new TensorSignature(value.Name, type, [.. tensor.Shape.Dim.Select(d => d.HasDimValue && d.DimValue > 0 ? d.DimValue : -1)]);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException(ex.Message, ex);
        }
    }
}
