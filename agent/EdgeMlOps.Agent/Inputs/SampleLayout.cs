using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Inputs;

/// <summary>
/// Where each input's values sit in a sample row of an uploaded graph, as its signed manifest declares them: the
/// features input first, then every context input in order (see <c>GraphInterface.ContextInputs</c>). Lets a request
/// send its inputs by name (<c>{"inputs": {"measurements": [...], "sex": [1]}}</c>) and names the input a bad id is in.
/// </summary>
public sealed class SampleLayout
{
    private SampleLayout(IReadOnlyList<Span> spans)
    {
        Spans = spans;
        RowLength = spans.Sum(s => s.Length);
    }

    /// <summary>One input: its name, where its values start in the row, how many there are, and whether they are ids (int64).</summary>
    public readonly record struct Span(string Name, int Offset, int Length, bool Ids);

    public IReadOnlyList<Span> Spans { get; }

    public int RowLength { get; }

    /// <summary>The layout of <paramref name="graph"/>'s sample rows; null for a generated model or one served by tensor names.</summary>
    public static SampleLayout? Of(GraphInterfaceSpec? graph)
    {
        if (graph is null || graph.Tensors is not null) return null;
        var offset = checked((int)graph.SampleDims.Aggregate(1L, (a, d) => a * d));
        var spans = new List<Span> { new(graph.FeaturesInput, 0, offset, graph.IntegerFeatures) };
        foreach (var context in graph.ContextInputs)
        {
            var length = checked((int)context.Dims.Aggregate(1L, (a, d) => a * d));
            spans.Add(new Span(context.Name, offset, length, context.Type == "int64"));
            offset += length;
        }

        return new SampleLayout(spans);
    }

    /// <summary>The span the first value of <paramref name="row"/> fed as an id that is not one (a whole number in [0, 2^24)) is in, and its index; or null.</summary>
    public (Span Input, int Index)? FirstInvalidId(ReadOnlySpan<float> row)
    {
        foreach (var span in Spans)
        {
            if (span.Ids && span.Offset + span.Length <= row.Length && Runtime.IntegerIds.FirstInvalid(row.Slice(span.Offset, span.Length)) is var bad and >= 0) return (span, span.Offset + bad);
        }

        return null;
    }
}
