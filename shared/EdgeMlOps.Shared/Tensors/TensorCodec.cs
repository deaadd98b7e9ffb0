using System.Runtime.InteropServices;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Shared.Tensors;

/// <summary>Encodes flat parameter vectors as named wire tensors and checks them on the way back.</summary>
public static class TensorCodec
{
    static TensorCodec()
    {
        // The wire format is little-endian; every platform .NET runs ML on is too.
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Big-endian hosts are not supported.");
    }

    /// <summary>One wire tensor per parameter, fp32 little-endian.</summary>
    public static IEnumerable<Tensor> Encode(ParameterLayout layout, ReadOnlySpan<float> values)
    {
        if (values.Length != layout.TotalLength)
        {
            throw new ArgumentException($"Expected {layout.TotalLength} values, got {values.Length}.", nameof(values));
        }

        var tensors = new List<Tensor>(layout.Tensors.Count);
        foreach (var p in layout.Tensors)
        {
            var tensor = new Tensor
            {
                Name = p.Name,
                Encoding = TensorEncoding.Float32Le,
                Data = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.Slice(p.Offset, p.Length))),
            };
            tensor.Dims.AddRange(p.Dims);
            tensors.Add(tensor);
        }

        return tensors;
    }

    /// <summary>
    /// Checks that <paramref name="tensors"/> name every parameter of <paramref name="layout"/>
    /// exactly once with the right shape, encoding and byte length, and that every value is
    /// finite. Returns null when valid, else the reason and a human-readable detail.
    /// Also returns the squared L2 norm, computed in the same pass.
    /// </summary>
    public static (RejectionReason Reason, string Detail)? Validate(ParameterLayout layout, IReadOnlyList<Tensor> tensors, out double squaredNorm)
    {
        squaredNorm = 0;
        if (tensors.Count != layout.Tensors.Count)
        {
            return (RejectionReason.WrongShape, $"expected {layout.Tensors.Count} tensors, got {tensors.Count}");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tensor in tensors)
        {
            if (!layout.TryGet(tensor.Name, out var p) || !seen.Add(tensor.Name))
            {
                return (RejectionReason.WrongShape, $"unknown or repeated tensor '{tensor.Name}'");
            }

            if (!tensor.Dims.SequenceEqual(p.Dims))
            {
                return (RejectionReason.WrongShape, $"tensor '{tensor.Name}' has dims [{string.Join(',', tensor.Dims)}], expected [{string.Join(',', p.Dims)}]");
            }

            if (tensor.Encoding != TensorEncoding.Float32Le)
            {
                return (RejectionReason.Malformed, $"tensor '{tensor.Name}' has unsupported encoding {tensor.Encoding}");
            }

            if (tensor.Data.Length != p.Length * sizeof(float))
            {
                return (RejectionReason.WrongShape, $"tensor '{tensor.Name}' has {tensor.Data.Length} bytes, expected {p.Length * sizeof(float)}");
            }

            // Any NaN or infinity makes the sum of squares non-finite: one pass checks both.
            var sq = System.Numerics.Tensors.TensorPrimitives.SumOfSquares(Floats(tensor));
            if (!float.IsFinite(sq))
            {
                return (RejectionReason.NonFinite, $"tensor '{tensor.Name}' holds non-finite values");
            }

            squaredNorm += sq;
        }

        return null;
    }

    /// <summary>The fp32 values of a validated tensor, without copying.</summary>
    public static ReadOnlySpan<float> Floats(Tensor tensor) => MemoryMarshal.Cast<byte, float>(tensor.Data.Span);
}
