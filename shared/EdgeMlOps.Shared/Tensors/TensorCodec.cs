using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;
using Tensor = EdgeMlOps.Shared.Protocol.V1.Tensor;
using Google.Protobuf;

namespace EdgeMlOps.Shared.Tensors;

/// <summary>
/// Encodes flat parameter vectors as named wire tensors (fp32, fp16, 8-bit stochastic, top-k
/// sparse), checks them on the way back, and decodes them straight into an accumulator.
/// </summary>
public static class TensorCodec
{
    /// <summary>Bytes before the codes of a <see cref="TensorEncoding.Uint8Stochastic"/> tensor: fp32 minimum and fp32 step.</summary>
    public const int QuantizedHeaderBytes = 8;

    private const int ChunkValues = 4096;

    static TensorCodec()
    {
        // The wire format is little-endian; every platform .NET runs ML on is too.
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Big-endian hosts are not supported.");
    }

    /// <summary>One wire tensor per parameter, fp32 little-endian.</summary>
    public static IEnumerable<Tensor> Encode(ParameterLayout layout, ReadOnlySpan<float> values)
    {
        CheckLength(layout, values.Length);
        var tensors = new List<Tensor>(layout.Tensors.Count);
        foreach (var p in layout.Tensors)
        {
            tensors.Add(NewTensor(p, TensorEncoding.Float32Le, ByteString.CopyFrom(MemoryMarshal.AsBytes(values.Slice(p.Offset, p.Length)))));
        }

        return tensors;
    }

    /// <summary>fp32 → fp16 (round to nearest even). Values beyond ±65504 become infinite and are refused by the receiver.</summary>
    public static Tensor EncodeFloat16(ParameterTensor p, ReadOnlySpan<float> values)
    {
        var bytes = new byte[p.Length * 2];
        TensorPrimitives.ConvertToHalf(values, MemoryMarshal.Cast<byte, Half>(bytes.AsSpan()));
        return NewTensor(p, TensorEncoding.Float16Le, UnsafeByteOperations.UnsafeWrap(bytes));
    }

    /// <summary>
    /// 8-bit stochastic quantization over [min, max] of the tensor: each value rounds up with
    /// probability equal to its distance from the lower level, so the decoded value is unbiased.
    /// Writes the decoded values into <paramref name="decoded"/> (for error feedback).
    /// </summary>
    public static Tensor EncodeUInt8Stochastic(ParameterTensor p, ReadOnlySpan<float> values, Random random, Span<float> decoded)
    {
        var min = TensorPrimitives.Min(values);
        var max = TensorPrimitives.Max(values);
        var step = (max - min) / 255f;
        var bytes = new byte[QuantizedHeaderBytes + p.Length];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, min);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4), step);
        var codes = bytes.AsSpan(QuantizedHeaderBytes);
        var inverse = step > 0 ? 1f / step : 0f;
        for (var i = 0; i < values.Length; i++)
        {
            var q = MathF.Floor((values[i] - min) * inverse + random.NextSingle());
            var code = (byte)Math.Clamp(q, 0f, 255f);
            codes[i] = code;
            decoded[i] = min + code * step;
        }

        return NewTensor(p, TensorEncoding.Uint8Stochastic, UnsafeByteOperations.UnsafeWrap(bytes));
    }

    /// <summary>
    /// Keeps the <paramref name="k"/> entries of largest magnitude (ties broken by position).
    /// Writes what was sent into <paramref name="decoded"/> (zeros elsewhere), for error feedback.
    /// </summary>
    public static Tensor EncodeTopK(ParameterTensor p, ReadOnlySpan<float> values, int k, Span<float> decoded)
    {
        k = Math.Clamp(k, 1, p.Length);
        var magnitudes = new float[values.Length];
        TensorPrimitives.Abs(values, magnitudes);
        return EncodeSparse(p, values, OrderStatistics.Select(magnitudes, values.Length - k), k, decoded);
    }

    /// <summary>
    /// Keeps every entry whose magnitude is above <paramref name="threshold"/>, then entries equal to it
    /// (by position) until <paramref name="count"/> are kept; <paramref name="count"/> must not exceed the
    /// entries at or above the threshold. Writes what was sent into <paramref name="decoded"/>.
    /// </summary>
    public static Tensor EncodeSparse(ParameterTensor p, ReadOnlySpan<float> values, float threshold, int count, Span<float> decoded)
    {
        var above = 0;
        foreach (var v in values) if (MathF.Abs(v) > threshold) above++;
        var ties = count - above;
        var bytes = new byte[count * 8];
        var indices = MemoryMarshal.Cast<byte, uint>(bytes.AsSpan(0, count * 4));
        var kept = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(count * 4));
        decoded.Clear();
        var n = 0;
        for (var i = 0; i < values.Length && n < count; i++)
        {
            var magnitude = MathF.Abs(values[i]);
            if (magnitude > threshold || (magnitude == threshold && ties-- > 0))
            {
                indices[n] = (uint)i;
                kept[n] = values[i];
                decoded[i] = values[i];
                n++;
            }
        }

        return NewTensor(p, TensorEncoding.SparseTopK, UnsafeByteOperations.UnsafeWrap(bytes));
    }

    /// <summary>
    /// Checks that <paramref name="tensors"/> name every parameter of <paramref name="layout"/>
    /// exactly once with the right shape, a known encoding and a consistent byte length, and that
    /// every value is finite (sparse indices in range and strictly increasing). Returns null when
    /// valid, else the reason and a human-readable detail. Also returns the squared L2 norm of the
    /// decoded update, computed in the same pass.
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

            if (ValidateTensor(tensor, p, out var sq) is { } invalid) return invalid;
            squaredNorm += sq;
        }

        return null;
    }

    /// <summary>Adds <paramref name="weight"/> × the decoded values of a validated tensor into <paramref name="sum"/>.</summary>
    public static void Accumulate(Tensor tensor, ParameterTensor p, StreamingWeightedSum sum, double weight)
    {
        switch (tensor.Encoding)
        {
            case TensorEncoding.Float32Le:
                sum.AddSlice(p.Offset, Floats(tensor), weight);
                break;
            case TensorEncoding.SparseTopK:
                sum.AddSparse(p.Offset, SparseIndices(tensor), SparseValues(tensor), weight);
                break;
            default:
                Span<float> chunk = stackalloc float[ChunkValues];
                for (var start = 0; start < p.Length; start += ChunkValues)
                {
                    var part = chunk[..Math.Min(ChunkValues, p.Length - start)];
                    DecodeDense(tensor, start, part);
                    sum.AddSlice(p.Offset + start, part, weight);
                }

                break;
        }
    }

    /// <summary>Writes the decoded values of a validated tensor into <paramref name="destination"/> (its full length).</summary>
    public static void Decode(Tensor tensor, Span<float> destination)
    {
        if (tensor.Encoding == TensorEncoding.SparseTopK)
        {
            destination.Clear();
            var indices = SparseIndices(tensor);
            var values = SparseValues(tensor);
            for (var i = 0; i < indices.Length; i++) destination[(int)indices[i]] = values[i];
            return;
        }

        DecodeDense(tensor, 0, destination);
    }

    /// <summary>The fp32 values of a validated FLOAT32_LE tensor, without copying.</summary>
    public static ReadOnlySpan<float> Floats(Tensor tensor) => MemoryMarshal.Cast<byte, float>(tensor.Data.Span);

    /// <summary>Wire bytes of the tensor data in an update (what compression saves).</summary>
    public static long PayloadBytes(IEnumerable<Tensor> tensors) => tensors.Sum(t => (long)t.Data.Length);

    private static (RejectionReason, string)? ValidateTensor(Tensor tensor, ParameterTensor p, out double squaredNorm)
    {
        squaredNorm = 0;
        var data = tensor.Data.Span;
        switch (tensor.Encoding)
        {
            case TensorEncoding.Float32Le:
                if (data.Length != p.Length * sizeof(float)) return WrongLength(tensor, p.Length * sizeof(float));
                squaredNorm = SumOfSquares(Floats(tensor));
                break;
            case TensorEncoding.Float16Le:
                if (data.Length != p.Length * 2) return WrongLength(tensor, p.Length * 2);
                squaredNorm = DenseSumOfSquares(tensor, p.Length);
                break;
            case TensorEncoding.Uint8Stochastic:
                if (data.Length != QuantizedHeaderBytes + p.Length) return WrongLength(tensor, QuantizedHeaderBytes + p.Length);
                var (min, step) = QuantizationHeader(tensor);
                if (!float.IsFinite(min) || !float.IsFinite(step) || step < 0)
                {
                    return (RejectionReason.NonFinite, $"tensor '{tensor.Name}' has quantization range {min} + q * {step}");
                }

                squaredNorm = DenseSumOfSquares(tensor, p.Length);
                break;
            case TensorEncoding.SparseTopK:
                if (data.Length == 0 || data.Length % 8 != 0 || data.Length / 8 > p.Length)
                {
                    return (RejectionReason.WrongShape, $"sparse tensor '{tensor.Name}' has {data.Length} bytes; expected 8 per entry, 1 to {p.Length} entries");
                }

                var previous = -1L;
                foreach (var index in SparseIndices(tensor))
                {
                    if (index <= previous || index >= p.Length)
                    {
                        return (RejectionReason.WrongShape, $"sparse tensor '{tensor.Name}' has index {index} after {previous} (must increase, below {p.Length})");
                    }

                    previous = index;
                }

                squaredNorm = SumOfSquares(SparseValues(tensor));
                break;
            default:
                return (RejectionReason.Malformed, $"tensor '{tensor.Name}' has unsupported encoding {tensor.Encoding}");
        }

        // Any NaN or infinity makes the sum of squares non-finite: one pass checks both.
        return double.IsFinite(squaredNorm) ? null : (RejectionReason.NonFinite, $"tensor '{tensor.Name}' holds non-finite values");
    }

    private static double SumOfSquares(ReadOnlySpan<float> values) => TensorPrimitives.SumOfSquares(values);

    private static double DenseSumOfSquares(Tensor tensor, int length)
    {
        Span<float> chunk = stackalloc float[ChunkValues];
        double total = 0;
        for (var start = 0; start < length; start += ChunkValues)
        {
            var part = chunk[..Math.Min(ChunkValues, length - start)];
            DecodeDense(tensor, start, part);
            total += SumOfSquares(part);
        }

        return total;
    }

    /// <summary>Decodes values [start, start + destination.Length) of a dense tensor.</summary>
    private static void DecodeDense(Tensor tensor, int start, Span<float> destination)
    {
        switch (tensor.Encoding)
        {
            case TensorEncoding.Float32Le:
                Floats(tensor).Slice(start, destination.Length).CopyTo(destination);
                break;
            case TensorEncoding.Float16Le:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(tensor.Data.Span).Slice(start, destination.Length), destination);
                break;
            case TensorEncoding.Uint8Stochastic:
                var (min, step) = QuantizationHeader(tensor);
                var codes = tensor.Data.Span.Slice(QuantizedHeaderBytes + start, destination.Length);
                for (var i = 0; i < codes.Length; i++) destination[i] = min + codes[i] * step;
                break;
            default:
                throw new InvalidOperationException($"{tensor.Encoding} is not a dense encoding.");
        }
    }

    private static (float Min, float Step) QuantizationHeader(Tensor tensor)
    {
        var data = tensor.Data.Span;
        return (BinaryPrimitives.ReadSingleLittleEndian(data), BinaryPrimitives.ReadSingleLittleEndian(data[4..]));
    }

    private static ReadOnlySpan<uint> SparseIndices(Tensor tensor) =>
        MemoryMarshal.Cast<byte, uint>(tensor.Data.Span[..(tensor.Data.Length / 2)]);

    private static ReadOnlySpan<float> SparseValues(Tensor tensor) =>
        MemoryMarshal.Cast<byte, float>(tensor.Data.Span[(tensor.Data.Length / 2)..]);

    private static (RejectionReason, string) WrongLength(Tensor tensor, int expected) =>
        (RejectionReason.WrongShape, $"tensor '{tensor.Name}' ({tensor.Encoding}) has {tensor.Data.Length} bytes, expected {expected}");

    private static Tensor NewTensor(ParameterTensor p, TensorEncoding encoding, ByteString data)
    {
        var tensor = new Tensor { Name = p.Name, Encoding = encoding, Data = data };
        tensor.Dims.AddRange(p.Dims);
        return tensor;
    }

    private static void CheckLength(ParameterLayout layout, int length)
    {
        if (length != layout.TotalLength) throw new ArgumentException($"Expected {layout.TotalLength} values, got {length}.");
    }
}
