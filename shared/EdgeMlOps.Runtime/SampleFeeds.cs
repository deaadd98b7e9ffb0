using EdgeMlOps.Shared.Models;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Runtime;

/// <summary>
/// How sample rows reach a graph's inputs: each row holds the features input's values, then every context input's
/// (<see cref="GraphInterface.ContextInputs"/>); a batch of rows becomes one ONNX Runtime value per input, named, ids
/// fed as int64, flags as bool and category indices as their strings (<see cref="StringCategories"/>). A single float input is fed as a view on the rows (no copy). Immutable: one instance serves every caller.
/// </summary>
public sealed class SampleFeeds
{
    private readonly IReadOnlyList<GraphInterface.SampleSpan> _spans;

    /// <summary>One input taking the whole row.</summary>
    public SampleFeeds(string input, long[] sampleDims, bool integer)
        : this(GraphInterface.Layout(input, sampleDims, integer, Array.Empty<TensorSignature>()))
    {
    }

    /// <summary>The features input and every context input of <paramref name="graph"/>, in row order.</summary>
    public SampleFeeds(GraphInterface graph)
        : this(graph.SampleSpans())
    {
    }

    /// <summary>The features input of <paramref name="graph"/> at <paramref name="featureDims"/> (a sample of another length), then every context input.</summary>
    public SampleFeeds(GraphInterface graph, long[] featureDims)
        : this(GraphInterface.Layout(graph.FeaturesInput, featureDims, graph.IntegerFeatures, graph.ContextInputs))
    {
    }

    private SampleFeeds(IReadOnlyList<GraphInterface.SampleSpan> spans)
    {
        _spans = spans;
        Names = [.. spans.Select(s => s.Name)];
        RowLength = spans.Sum(s => s.Length);
    }

    /// <summary>The inputs fed, in the order <see cref="Feed"/> returns their values.</summary>
    public string[] Names { get; }

    /// <summary>Floats in one row.</summary>
    public int RowLength { get; }

    /// <summary>The first value fed as an id or a flag that is not one, over rows laid end to end: its index within its row and its input; or null.</summary>
    public (int Index, GraphInterface.SampleSpan Input)? FirstInvalidId(ReadOnlySpan<float> rows)
    {
        for (var start = 0; start + RowLength <= rows.Length; start += RowLength)
        {
            if (IntegerIds.FirstInvalid(_spans, rows.Slice(start, RowLength)) is { } bad) return bad;
        }

        return null;
    }

    /// <summary>
    /// The values of <paramref name="count"/> rows at the start of <paramref name="rows"/>, one per input in
    /// <see cref="Names"/>' order; the caller disposes them (and keeps <paramref name="rows"/> alive while they are used).
    /// Throws <see cref="ArgumentException"/> for an id that is not a whole number in [0, 2^24) or a flag that is not 0 or 1.
    /// </summary>
    public OrtValue[] Feed(float[] rows, int count)
    {
        if (count <= 0 || rows.Length < count * RowLength) throw new ArgumentException($"expected {count} rows of {RowLength} values, got {rows.Length} values", nameof(rows));
        if (_spans is [{ Element: TensorElement.Float } only])
            return [OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, rows.AsMemory(0, count * RowLength), [count, .. only.Dims])];
        if (FirstInvalidId(rows.AsSpan(0, count * RowLength)) is var (bad, input))
            throw new ArgumentException($"value {bad} of a row is not {input.Expected} for input '{input.Name}'", nameof(rows));
        var values = new OrtValue[_spans.Count];
        for (var k = 0; k < _spans.Count; k++)
        {
            var (_, offset, length, dims, element) = _spans[k];
            if (element == TensorElement.String)
            {
                var categories = _spans[k].Categories;
                var strings = OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, [count, .. dims]);
                for (var i = 0; i < count; i++) for (var j = 0; j < length; j++) strings.StringTensorSetElementAt(StringCategories.At(categories, rows[(i * RowLength) + offset + j]), (i * length) + j);
                values[k] = strings;
            }
            else if (element == TensorElement.Bool)
            {
                var flags = new bool[count * length];
                for (var i = 0; i < count; i++) for (var j = 0; j < length; j++) flags[(i * length) + j] = rows[(i * RowLength) + offset + j] != 0;
                values[k] = OrtValue.CreateTensorValueFromMemory(flags, [count, .. dims]);
            }
            else if (element == TensorElement.Int64)
            {
                var ids = new long[count * length];
                for (var i = 0; i < count; i++) for (var j = 0; j < length; j++) ids[(i * length) + j] = (long)rows[(i * RowLength) + offset + j];
                values[k] = OrtValue.CreateTensorValueFromMemory(ids, [count, .. dims]);
            }
            else
            {
                var floats = new float[count * length];
                for (var i = 0; i < count; i++) rows.AsSpan((i * RowLength) + offset, length).CopyTo(floats.AsSpan(i * length, length));
                values[k] = OrtValue.CreateTensorValueFromMemory(floats, [count, .. dims]);
            }
        }

        return values;
    }
}
