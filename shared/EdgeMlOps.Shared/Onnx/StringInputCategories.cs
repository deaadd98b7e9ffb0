using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx.Proto;

namespace EdgeMlOps.Shared.Onnx;

/// <summary>
/// The categories of an uploaded model's string input, read from the ai.onnx.ml encoders that consume it —
/// OneHotEncoder and CategoryMapper (<c>cats_strings</c>), LabelEncoder (<c>keys_strings</c>, or a string
/// <c>keys_tensor</c>) — as converters of scikit-learn pipelines write categorical columns. Every string outside them is
/// one the model treats alike, so a row can keep a string as its index (<see cref="StringCategories"/>). An input any
/// other node reads is refused, naming the node: its strings could matter beyond a list.
/// </summary>
public static class StringInputCategories
{
    public static IReadOnlyList<string> Read(GraphProto graph, string input)
    {
        IReadOnlyList<string>? categories = null;
        foreach (var node in graph.Node.Where(n => n.Input.Contains(input)))
        {
            var read = node.Domain == "ai.onnx.ml" ? Declared(node) : null;
            if (read is null) throw new InvalidDataException($"string input '{input}' is read by node '{node.Name}' ({node.OpType}); a string context input must feed only OneHotEncoder, LabelEncoder or CategoryMapper (ai.onnx.ml), whose categories a device keeps a row's strings by");
            if (categories is not null && !categories.SequenceEqual(read, StringComparer.Ordinal)) throw new InvalidDataException($"string input '{input}' is read by encoders with different categories (node '{node.Name}' among them)");
            categories = read;
        }

        return categories ?? throw new InvalidDataException($"string input '{input}' is read by no node");
    }

    private static IReadOnlyList<string>? Declared(NodeProto node)
    {
        string[] Strings(string name) => [.. node.Attribute.Where(a => a.Name == name).SelectMany(a => a.Strings).Select(s => s.ToStringUtf8())];
        return node.OpType switch
        {
            "OneHotEncoder" or "CategoryMapper" => Strings("cats_strings"),
            "LabelEncoder" when node.Attribute.FirstOrDefault(a => a.Name == "keys_tensor") is { } keys => keys.T.DataType == (int)TensorProto.Types.DataType.String ? [.. keys.T.StringData.Select(s => s.ToStringUtf8())] : null,
            "LabelEncoder" => Strings("keys_strings"),
            _ => null,
        };
    }
}
