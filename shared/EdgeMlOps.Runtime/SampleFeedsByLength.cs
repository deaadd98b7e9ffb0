using System.Collections.Concurrent;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Runtime;

/// <summary>
/// A graph's feeds at each sample length it takes: its interface's (<see cref="Longest"/>), and — for samples that
/// vary along a free axis — the features input at each shorter length (and the context inputs after it, as at every
/// length), made once on first use. Safe for concurrent callers.
/// </summary>
public sealed class SampleFeedsByLength
{
    private readonly SampleLengths? _varying;
    private readonly GraphInterface? _graph;
    private readonly ConcurrentDictionary<long, SampleFeeds> _shorter = new();

    /// <param name="longest">The feeds at the interface's sample dims.</param>
    /// <param name="graph">The interface, or null for a generated dense classifier (one length).</param>
    /// <param name="varying">
    /// The lengths the fed input varies over: the samples callers send (<see cref="GraphInterface.Varying"/>) when serving,
    /// the features the model takes (<see cref="GraphInterface.ModelLengths"/>) when training behind a front end.
    /// </param>
    public SampleFeedsByLength(SampleFeeds longest, GraphInterface? graph, SampleLengths? varying)
    {
        Longest = longest;
        (_varying, _graph) = (varying, graph);
    }

    public SampleFeeds Longest { get; }

    /// <summary>True when rows of <paramref name="rowLength"/> values are samples of a length the graph takes.</summary>
    public bool Takes(long rowLength) => rowLength == Longest.RowLength || _varying?.LengthOf(rowLength) is not null;

    /// <summary>The feeds for rows of <paramref name="rowLength"/> values; throws <see cref="ArgumentException"/> for a length the graph does not take.</summary>
    public SampleFeeds For(int rowLength)
    {
        if (rowLength == Longest.RowLength) return Longest;
        var length = _varying?.LengthOf(rowLength)
            ?? throw new ArgumentException($"rows of {rowLength} values are not samples of {(_varying?.Describe() ?? Longest.RowLength + " values")}", nameof(rowLength));
        return _shorter.GetOrAdd(length, l => new SampleFeeds(_graph!, _varying!.DimsAt(l)));
    }
}
