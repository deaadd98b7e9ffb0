using EdgeMlOps.Shared.Onnx.Proto;
using Google.Protobuf;

namespace EdgeMlOps.Shared.Onnx;

/// <summary>
/// A declared embedding made readable: ONNX Runtime returns only graph outputs, so the session that serves a model
/// whose embedding is an intermediate value is opened on the same graph with that value listed as one more output.
/// No node, initializer or attribute changes — the served outputs are the same function of the same inputs — and the
/// file on disk stays the uploaded bytes (their sha256 is what the device verified).
/// </summary>
/// <remarks>
/// The device does not re-serialize the model to add the output: a protobuf message followed by another of the same
/// type parses as their merge (repeated fields appended), so the session's bytes are the file's followed by a few bytes
/// declaring one more graph output. Measured with ResNet18 (60 MB) on the native-AOT agent: parsing and re-serializing
/// it raised the agent's peak RSS from 334 to 463 MB; appending keeps it within one extra copy of the file
/// (docs/BENCHMARKS.md, "Models served by tensor names").
/// </remarks>
public static class EmbeddingExposure
{
    /// <summary>Throws <see cref="InvalidDataException"/> unless a node of the graph computes <paramref name="name"/> (or it is an output).</summary>
    public static void CheckNamed(ModelProto model, string name)
    {
        if (model.Graph.Output.Any(o => o.Name == name) || model.Graph.Node.Any(n => n.Output.Contains(name))) return;
        var late = Candidates(model);
        throw new InvalidDataException($"the graph computes no value named '{name}' to watch as its embedding" +
            (late.Count > 0 ? $"; values it computes late in the graph: {string.Join(", ", late.Select(v => $"'{v}'"))}" : string.Empty));
    }

    /// <summary>Values late in the graph that usually are an embedding (what pooling, flattening or a dense layer makes), last six, in graph order.</summary>
    public static IReadOnlyList<string> Candidates(ModelProto model) =>
        [.. model.Graph.Node.Where(n => n.OpType is "Flatten" or "GlobalAveragePool" or "ReduceMean" or "Gemm" or "MatMul" or "Reshape").SelectMany(n => n.Output).TakeLast(6)];

    /// <summary>The model bytes to open a session on: <paramref name="bytes"/> itself when the value is already a graph output.</summary>
    public static byte[] WithOutput(byte[] bytes, string name)
    {
        if (ProtoFields.GraphOutputNames(bytes).Contains(name)) return bytes;
        var declaration = new ModelProto
        {
            Graph = new GraphProto
            {
                Output =
                {
                    new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } } },
                },
            },
        }.ToByteArray();
        var merged = new byte[bytes.Length + declaration.Length];
        bytes.CopyTo(merged, 0);
        declaration.CopyTo(merged, bytes.Length);
        return merged;
    }
}
