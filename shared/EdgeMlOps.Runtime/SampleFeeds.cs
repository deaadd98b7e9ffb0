using EdgeMlOps.Shared.Models;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Runtime;

/// <summary>
/// How sample rows reach a graph's inputs: each row holds the features input's values, then every context input's
/// (<see cref="GraphInterface.ContextInputs"/>); a batch of rows becomes one ONNX Runtime value per input, named, ids
/// fed as int64. A single float input is fed as a view on the rows (no copy). Immutable: one instance serves every caller.
/// </summary>
public sealed class SampleFeeds
{
    private readonly (int Offset, int Length, long[] Dims, bool Integer)[] _spans;

    /// <summary>One input taking the whole row.</summary>
    public SampleFeeds(string input, long[] sampleDims, bool integer)
    {
        Names = [input];
        _spans = [(0, checked((int)sampleDims.Aggregate(1L, (a, d) => a * d)), sampleDims, integer)];
        RowLength = _spans[0].Length;
    }

    /// <summary>The features input and every context input of <paramref name="graph"/>, in row order.</summary>
    public SampleFeeds(GraphInterface graph)
    {
        var spans = graph.SampleSpans();
        Names = [.. spans.Select(s => s.Name)];
        _spans = [.. spans.Select(s => (s.Offset, s.Length, s.Dims.ToArray(), s.Integer))];
        RowLength = graph.SampleLength;
    }

    /// <summary>The inputs fed, in the order <see cref="Feed"/> returns their values.</summary>
    public string[] Names { get; }

    /// <summary>Floats in one row.</summary>
    public int RowLength { get; }

    /// <summary>Whether any input takes ids (int64), whose values must be whole numbers in [0, 2^24).</summary>
    public bool HasIds => _spans.Any(s => s.Integer);

    /// <summary>The index in a row of the first value fed as an id that is not one, or -1.</summary>
    public int FirstInvalidId(ReadOnlySpan<float> rows)
    {
        for (var start = 0; start + RowLength <= rows.Length; start += RowLength)
        {
            foreach (var span in _spans)
            {
                if (span.Integer && IntegerIds.FirstInvalid(rows.Slice(start + span.Offset, span.Length)) is var bad and >= 0) return span.Offset + bad;
            }
        }

        return -1;
    }

    /// <summary>
    /// The values of <paramref name="count"/> rows at the start of <paramref name="rows"/>, one per input in
    /// <see cref="Names"/>' order; the caller disposes them (and keeps <paramref name="rows"/> alive while they are used).
    /// Throws <see cref="ArgumentException"/> for an id that is not a whole number in [0, 2^24).
    /// </summary>
    public OrtValue[] Feed(float[] rows, int count)
    {
        if (count <= 0 || rows.Length < count * RowLength) throw new ArgumentException($"expected {count} rows of {RowLength} values, got {rows.Length} values", nameof(rows));
        if (_spans.Length == 1 && !_spans[0].Integer)
            return [OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, rows.AsMemory(0, count * RowLength), [count, .. _spans[0].Dims])];
        if (FirstInvalidId(rows.AsSpan(0, count * RowLength)) is var bad and >= 0)
            throw new ArgumentException($"value {bad} of a row is not an id (a whole number in [0, {GraphInterface.MaxIntegerFeature})) for input '{NameAt(bad)}'", nameof(rows));
        var values = new OrtValue[_spans.Length];
        for (var k = 0; k < _spans.Length; k++)
        {
            var (offset, length, dims, integer) = _spans[k];
            if (integer)
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

    private string NameAt(int offset) => Names[Array.FindLastIndex(_spans, s => s.Offset <= offset)];
}
