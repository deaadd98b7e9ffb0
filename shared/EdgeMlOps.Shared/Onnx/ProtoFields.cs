namespace EdgeMlOps.Shared.Onnx;

/// <summary>
/// Reads a few fields of a serialized ONNX model by walking its protobuf wire format, without materializing the model
/// (whose initializers can be hundreds of megabytes): what a device needs to know before opening a session.
/// </summary>
public static class ProtoFields
{
    private const int ModelGraph = 7;    // ModelProto.graph
    private const int GraphOutput = 12;  // GraphProto.output
    private const int ValueInfoName = 1; // ValueInfoProto.name

    /// <summary>The names of the graph's outputs. Throws <see cref="InvalidDataException"/> on malformed bytes.</summary>
    public static HashSet<string> GraphOutputNames(ReadOnlySpan<byte> model)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var graph in Fields(model, ModelGraph))
        {
            foreach (var output in Fields(model.Slice(graph.Start, graph.Length), GraphOutput))
            {
                var info = model.Slice(graph.Start, graph.Length).Slice(output.Start, output.Length);
                foreach (var name in Fields(info, ValueInfoName)) names.Add(System.Text.Encoding.UTF8.GetString(info.Slice(name.Start, name.Length)));
            }
        }

        return names;
    }

    /// <summary>Where the length-delimited fields numbered <paramref name="field"/> lie in <paramref name="message"/>.</summary>
    private static List<(int Start, int Length)> Fields(ReadOnlySpan<byte> message, int field)
    {
        var found = new List<(int, int)>();
        var at = 0;
        while (at < message.Length)
        {
            var tag = Varint(message, ref at);
            var number = (int)(tag >> 3);
            switch ((int)(tag & 7))
            {
                case 0: Varint(message, ref at); break;
                case 1: at += 8; break;
                case 5: at += 4; break;
                case 2:
                    var length = Varint(message, ref at);
                    if (length > (ulong)(message.Length - at)) throw new InvalidDataException("a field runs past the end of the model");
                    if (number == field) found.Add((at, (int)length));
                    at += (int)length;
                    break;
                default: throw new InvalidDataException($"unknown wire type {tag & 7} in the model");
            }
        }

        if (at != message.Length) throw new InvalidDataException("a field runs past the end of the model");
        return found;
    }

    private static ulong Varint(ReadOnlySpan<byte> bytes, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (at >= bytes.Length) throw new InvalidDataException("the model ends inside a number");
            var b = bytes[at++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80) return value;
        }

        throw new InvalidDataException("a number in the model is longer than 10 bytes");
    }
}
