using System.Buffers.Binary;

namespace EdgeMlOps.Shared.Aggregation;

/// <summary>128-bit integers as 16 little-endian bytes each (two's complement): how exact sums travel between processes.</summary>
public static class Int128Bytes
{
    public const int Size = 16;

    public static byte[] Write(ReadOnlySpan<Int128> values)
    {
        var bytes = new byte[values.Length * Size];
        for (var i = 0; i < values.Length; i++)
        {
            var v = (UInt128)values[i];
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * Size), (ulong)v);
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * Size + 8), (ulong)(v >> 64));
        }

        return bytes;
    }

    /// <summary>Adds the values in <paramref name="bytes"/> to <paramref name="target"/>, element by element.</summary>
    public static void AddTo(ReadOnlySpan<byte> bytes, Span<Int128> target)
    {
        if (bytes.Length != target.Length * Size) throw new ArgumentException($"{bytes.Length} bytes are not {target.Length} 128-bit values", nameof(bytes));
        for (var i = 0; i < target.Length; i++) target[i] += Read(bytes, i);
    }

    /// <summary>The <paramref name="index"/>th value of <paramref name="bytes"/>.</summary>
    public static Int128 Read(ReadOnlySpan<byte> bytes, int index)
    {
        var low = BinaryPrimitives.ReadUInt64LittleEndian(bytes[(index * Size)..]);
        var high = BinaryPrimitives.ReadUInt64LittleEndian(bytes[((index * Size) + 8)..]);
        return (Int128)new UInt128(high, low);
    }
}
