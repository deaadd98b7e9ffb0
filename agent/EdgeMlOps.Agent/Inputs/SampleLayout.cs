using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Inputs;

/// <summary>
/// Where each input's values sit in a sample row of an uploaded graph, as its signed manifest declares them
/// (<see cref="GraphInterface.Layout"/>: the features input first, then every context input in order). Lets a request
/// send its inputs by name (<c>{"inputs": {"measurements": [...], "sex": [1]}}</c>) and names the input a bad id is in.
/// </summary>
public sealed class SampleLayout
{
    private SampleLayout(IReadOnlyList<GraphInterface.SampleSpan> spans, IReadOnlyCollection<string> optional)
    {
        Spans = spans;
        RowLength = spans.Sum(s => s.Length);
        Optional = [.. spans.Select(s => optional.Contains(s.Name))];
    }

    public IReadOnlyList<GraphInterface.SampleSpan> Spans { get; }

    /// <summary>Per span: whether a request by name may leave it out (a streaming model's state input: zeros, or the session's state).</summary>
    public bool[] Optional { get; }

    public int RowLength { get; }

    /// <summary>The layout of <paramref name="graph"/>'s sample rows; null for a generated model or one served by tensor names.</summary>
    public static SampleLayout? Of(GraphInterfaceSpec? graph) =>
        graph is null || graph.Tensors is not null ? null
        : new SampleLayout(GraphInterface.Layout(graph.FeaturesInput, graph.SampleDims, graph.IntegerFeatures, graph.ContextInputs.Select(ModelArchitectures.Signature)),
            [.. graph.States.Select(s => s.Input)]);
}
