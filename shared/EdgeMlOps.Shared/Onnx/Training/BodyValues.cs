using EdgeMlOps.Shared.Onnx.Proto;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// The integer and bool scalars of one iteration of a loop's body that are known statically — from the iteration
/// number, the values it carries in (<paramref name="inputs"/>, null where unknown), its constants and the enclosing
/// graph's known values (<paramref name="outer"/>) — so a scripted loop's bound hidden in its condition (i + 1 &lt; N
/// beside a break) can be found. Bools are 0 or 1; <c>And</c> of a known false is false whatever the other side.
/// </summary>
internal sealed class BodyValues(GraphProto body, Dictionary<string, long?> inputs, Func<string, long?> outer)
{
    private readonly Dictionary<string, NodeProto> _producers = body.Node.SelectMany(n => n.Output.Select(o => (o, n))).GroupBy(p => p.o, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().n, StringComparer.Ordinal);

    public long? Of(string name)
    {
        if (inputs.TryGetValue(name, out var known)) return known;
        if (!_producers.TryGetValue(name, out var node)) return outer(name);
        var value = Evaluate(node);
        inputs[name] = value; // each value once
        return value;
    }

    private long? Evaluate(NodeProto node)
    {
        long? A() => Of(node.Input[0]);
        long? B() => Of(node.Input[1]);
        switch (node.OpType)
        {
            case "Constant":
                return node.Attribute.FirstOrDefault(a => a.Name == "value")?.T is { } t && t.Dims.Aggregate(1L, (a, d) => a * d) == 1 ? Scalar(t) : null;
            case "Identity" or "Squeeze" or "Unsqueeze" or "Reshape":
                return A();
            case "Cast":
                return GraphFacts.AttributeInt(node, "to", 0) == (int)DataType.Bool ? A() is { } c ? (c != 0 ? 1 : 0) : null : A();
            case "Not":
                return A() is { } n ? 1 - n : null;
            case "And":
                return (A(), B()) switch { (0, _) or (_, 0) => 0, (1, 1) => 1, _ => null };
            case "Or":
                return (A(), B()) switch { (1, _) or (_, 1) => 1, (0, 0) => 0, _ => null };
            case "Add" or "Sub" or "Mul" or "Less" or "Greater" or "Equal" or "LessOrEqual" or "GreaterOrEqual":
                if (A() is not { } a || B() is not { } b) return null;
                return node.OpType switch
                {
                    "Add" => a + b,
                    "Sub" => a - b,
                    "Mul" => a * b,
                    "Less" => a < b ? 1 : 0,
                    "Greater" => a > b ? 1 : 0,
                    "Equal" => a == b ? 1 : 0,
                    "LessOrEqual" => a <= b ? 1 : 0,
                    _ => a >= b ? 1 : 0,
                };
            default:
                return null;
        }
    }

    private static long? Scalar(TensorProto t) => (DataType)t.DataType switch
    {
        DataType.Bool => t.Int32Data.Count > 0 ? (t.Int32Data[0] != 0 ? 1 : 0) : t.RawData.Length == 1 ? t.RawData[0] : null,
        DataType.Int64 => t.Int64Data.Count > 0 ? t.Int64Data[0] : t.RawData.Length == 8 ? BitConverter.ToInt64(t.RawData.Span) : null,
        DataType.Int32 => t.Int32Data.Count > 0 ? t.Int32Data[0] : t.RawData.Length == 4 ? BitConverter.ToInt32(t.RawData.Span) : null,
        _ => null,
    };
}
