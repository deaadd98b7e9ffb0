using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Inputs;

/// <summary>
/// Where each input's values sit in a sample row of an uploaded graph, as its signed manifest declares them
/// (<see cref="GraphInterface.Layout"/>: the features input first — behind a front end, the front end's input — then
/// every context input in order). Lets a request
/// send its inputs by name (<c>{"inputs": {"measurements": [...], "sex": [1]}}</c>) and names the input a bad id is in.
/// For samples of several lengths (<see cref="GraphInterface.Varying"/>) the features span is the longest here, and
/// <see cref="At"/> gives the layout of a shorter row: the features at its length, the context inputs after them.
/// </summary>
public sealed class SampleLayout
{
    private readonly GraphInterfaceSpec _graph;
    private readonly IReadOnlyCollection<string> _optional;

    private SampleLayout(GraphInterfaceSpec graph, IReadOnlyList<long> featureDims, IReadOnlyCollection<string> optional, SampleLengths? varying)
    {
        (_graph, _optional, Varying) = (graph, optional, varying);
        Spans = GraphInterface.Layout(graph.Preprocess is { Inputs.Count: 1 } front ? front.Inputs[0].Name : graph.FeaturesInput, featureDims, graph.IntegerFeatures, graph.ContextInputs.Select(ModelArchitectures.Signature)); // behind a front end, the input callers feed is its
        RowLength = Spans.Sum(s => s.Length);
        Optional = [.. Spans.Select(s => optional.Contains(s.Name))];
    }

    /// <summary>The lengths samples may have, or null when they have one.</summary>
    public SampleLengths? Varying { get; }

    public IReadOnlyList<GraphInterface.SampleSpan> Spans { get; }

    /// <summary>Per span: whether a request by name may leave it out (a streaming model's state input: zeros, or the session's state).</summary>
    public bool[] Optional { get; }

    public int RowLength { get; }

    /// <summary>The layout of <paramref name="graph"/>'s sample rows; null for a generated model or one served by tensor names.</summary>
    public static SampleLayout? Of(GraphInterfaceSpec? graph) =>
        graph is null || graph.Tensors is not null ? null
        : new SampleLayout(graph, graph.SampleDims, [.. graph.States.Select(s => s.Input)], graph.SampleLengths is { } range ? ArchitectureSampleSizes.Lengths(range, graph) : null);

    /// <summary>The layout of a row of <paramref name="rowLength"/> values: this one, or for a sample of another length the model takes, its features at that length.</summary>
    public SampleLayout At(long rowLength) =>
        rowLength == RowLength || Varying?.LengthOf(rowLength) is not { } length ? this : new SampleLayout(_graph, Varying.DimsAt(length), _optional, Varying);

    /// <summary>The layout of a row whose features input holds <paramref name="featureValues"/> values (the first span's): <see cref="At"/> that row's length.</summary>
    public SampleLayout WithFeatures(int featureValues) => At(RowLength - Spans[0].Length + (long)featureValues);
}
