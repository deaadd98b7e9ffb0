using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Runtime;

/// <summary>
/// One named tensor a caller feeds or a model returns: its element type, shape and row-major values — a float[],
/// double[], long[], int[], bool[] or string[] matching <see cref="Type"/>.
/// </summary>
public sealed record NamedTensor(string Name, TensorElement Type, long[] Dims, Array Data)
{
    /// <summary>Elements the shape holds (−1 when an axis is negative or the product overflows).</summary>
    public static long ElementCount(IReadOnlyList<long> dims)
    {
        long count = 1;
        foreach (var d in dims)
        {
            if (d < 0) return -1;
            try
            {
                count = checked(count * d);
            }
            catch (OverflowException)
            {
                return -1;
            }
        }

        return count;
    }

    /// <summary>The array type that holds values of <paramref name="type"/>.</summary>
    public static Type ArrayType(TensorElement type) => type switch
    {
        TensorElement.Float => typeof(float[]),
        TensorElement.Double => typeof(double[]),
        TensorElement.Int64 => typeof(long[]),
        TensorElement.Int32 => typeof(int[]),
        TensorElement.Bool => typeof(bool[]),
        _ => typeof(string[]),
    };

    /// <summary>Zeros (empty strings) of <paramref name="signature"/>'s fixed shape: a recurrent state before the first call.</summary>
    public static NamedTensor Zeros(TensorSignature signature)
    {
        var count = (int)ElementCount(signature.Dims);
        Array data = signature.Type switch
        {
            TensorElement.Float => new float[count],
            TensorElement.Double => new double[count],
            TensorElement.Int64 => new long[count],
            TensorElement.Int32 => new int[count],
            TensorElement.Bool => new bool[count],
            _ => Enumerable.Repeat(string.Empty, count).ToArray(),
        };
        return new NamedTensor(signature.Name, signature.Type, [.. signature.Dims], data);
    }
}
