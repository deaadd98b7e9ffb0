using System.Runtime.InteropServices;
using EdgeMlOps.Shared.Onnx.Proto;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Shared.Onnx;

/// <summary>Reads a float initializer's values, whichever way the exporter stored them (raw bytes or float_data).</summary>
public static class OnnxTensors
{
    /// <summary>Copies <paramref name="tensor"/>'s values into <paramref name="target"/>, or throws <see cref="InvalidDataException"/> when type or length differ.</summary>
    public static void ReadFloats(TensorProto tensor, Span<float> target)
    {
        if (tensor.DataType != (int)DataType.Float) throw new InvalidDataException($"Initializer '{tensor.Name}' is {(DataType)tensor.DataType}, not float.");
        if (tensor.RawData.Length == target.Length * sizeof(float)) MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).CopyTo(target);
        else if (tensor.FloatData.Count == target.Length) for (var i = 0; i < target.Length; i++) target[i] = tensor.FloatData[i];
        else throw new InvalidDataException($"Initializer '{tensor.Name}' holds {tensor.RawData.Length} raw bytes and {tensor.FloatData.Count} floats, expected {target.Length} values.");
    }
}
