using System.Text;

namespace EdgeMlOps.Shared.Onnx;

/// <summary>
/// Where, in an ONNX file's own bytes, each graph initializer's <c>raw_data</c> lies — read from the protobuf wire format
/// without re-encoding anything, so a later version can be the user's file with new values written over the old ones,
/// byte for byte the same elsewhere. Parsing and serializing again would not be: this process's protobuf library drops
/// fields the exporter wrote explicitly at their defaults, and writes fields it does not know at the end.
/// </summary>
public static class InitializerRawSpans
{
    private const int ModelGraph = 7, GraphInitializer = 5, TensorName = 8, TensorRawData = 9;
    private const int Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5;

    /// <summary>Each initializer's name and the offset and length of its raw data; null when the file is not plain enough to say (a name twice, a second graph, groups).</summary>
    public static IReadOnlyDictionary<string, (int Offset, int Length)>? Find(ReadOnlySpan<byte> model)
    {
        var graphs = Fields(model, 0, model.Length).Where(f => f.Number == ModelGraph).ToList();
        if (graphs is not [{ Wire: LengthDelimited } graph]) return null;
        var spans = new Dictionary<string, (int Offset, int Length)>(StringComparer.Ordinal);
        foreach (var initializer in Fields(model, graph.Offset, graph.Offset + graph.Length).Where(f => f.Number == GraphInitializer))
        {
            if (initializer.Wire != LengthDelimited) return null;
            var fields = Fields(model, initializer.Offset, initializer.Offset + initializer.Length);
            if (fields.Count(f => f.Number == TensorName) != 1 || fields.Count(f => f.Number == TensorRawData) > 1) return null;
            var nameField = fields.Single(f => f.Number == TensorName);
            var name = Encoding.UTF8.GetString(model.Slice(nameField.Offset, nameField.Length));
            if (fields.FirstOrDefault(f => f.Number == TensorRawData) is { Wire: LengthDelimited } raw && !spans.TryAdd(name, (raw.Offset, raw.Length))) return null;
        }

        return spans;
    }

    private readonly record struct Field(int Number, int Wire, int Offset, int Length);

    /// <summary>The fields of the message in <c>[start, end)</c>; a length-delimited one's offset and length are its content's.</summary>
    private static List<Field> Fields(ReadOnlySpan<byte> bytes, int start, int end)
    {
        var fields = new List<Field>();
        var at = start;
        while (at < end)
        {
            var key = ReadVarint(bytes, ref at, end);
            var (number, wire) = ((int)(key >> 3), (int)(key & 7));
            var from = at;
            switch (wire)
            {
                case Varint: ReadVarint(bytes, ref at, end); break;
                case Fixed64: at += 8; break;
                case Fixed32: at += 4; break;
                case LengthDelimited:
                    var length = ReadVarint(bytes, ref at, end);
                    if (length > (ulong)(end - at)) throw new InvalidDataException("a field runs past its message");
                    from = at;
                    at += (int)length;
                    break;
                default: throw new InvalidDataException($"wire type {wire} (groups) is not read here");
            }

            if (at > end) throw new InvalidDataException("a field runs past its message");
            fields.Add(new Field(number, wire, from, at - from));
        }

        return fields;
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> bytes, ref int at, int end)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (at >= end) throw new InvalidDataException("a varint runs past its message");
            var b = bytes[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return value;
        }

        throw new InvalidDataException("a varint longer than ten bytes");
    }
}
