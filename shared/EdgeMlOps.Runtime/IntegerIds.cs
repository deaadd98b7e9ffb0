using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Runtime;

/// <summary>Features that are ids (an int64 model input): whole numbers in [0, 2^24), kept as float32 on the device and fed as int64.</summary>
public static class IntegerIds
{
    /// <summary>The index of the first value that is not an id, or -1.</summary>
    public static int FirstInvalid(ReadOnlySpan<float> features)
    {
        for (var i = 0; i < features.Length; i++)
        {
            if (!GraphInterface.IsId(features[i])) return i;
        }

        return -1;
    }

    /// <summary>
    /// The first value of one sample <paramref name="row"/> fed as an id or a flag (by the spans that take int64 or bool)
    /// that is not one (<see cref="GraphInterface.SampleSpan.Admits"/>): its index in the row and its input; null when
    /// all are. Spans the row does not reach are not checked (a row of the wrong width is refused for that).
    /// </summary>
    public static (int Index, GraphInterface.SampleSpan Input)? FirstInvalid(IReadOnlyList<GraphInterface.SampleSpan> spans, ReadOnlySpan<float> row)
    {
        foreach (var span in spans)
        {
            if (span.Element == TensorElement.Float || span.Offset + span.Length > row.Length) continue;
            for (var i = span.Offset; i < span.Offset + span.Length; i++)
            {
                if (!span.Admits(row[i])) return (i, span);
            }
        }

        return null;
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first value that is not an id.</summary>
    public static void Check(ReadOnlySpan<float> features)
    {
        if (FirstInvalid(features) is var bad and >= 0)
            throw new ArgumentException($"feature {bad} is {features[bad]}, not an id (a whole number in [0, {GraphInterface.MaxIntegerFeature}))", nameof(features));
    }

    /// <summary>The ids as int64, after <see cref="Check"/>.</summary>
    public static long[] From(ReadOnlySpan<float> features)
    {
        Check(features);
        var ids = new long[features.Length];
        for (var i = 0; i < ids.Length; i++) ids[i] = (long)features[i];
        return ids;
    }
}
