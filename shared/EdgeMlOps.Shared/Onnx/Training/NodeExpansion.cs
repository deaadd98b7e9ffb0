using EdgeMlOps.Shared.Onnx.Proto;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// Replaces selected nodes of a graph, in place, by the nodes a writer appends for each — where the node stood, so
/// the graph stays in topological order. What <see cref="ControlFlowInlining"/> and <see cref="RecurrentUnrolling"/>
/// share: each writes one node out as ordinary nodes under its own output names.
/// </summary>
internal static class NodeExpansion
{
    /// <summary>Expands every node <paramref name="selected"/> picks with <paramref name="write"/> (given the node and facts about the graph without it); returns how many.</summary>
    public static int Apply(GraphProto graph, Func<NodeProto, bool> selected, Action<NodeProto, GraphFacts> write)
    {
        var expanded = 0;
        for (var i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            if (!selected(node)) continue;
            var facts = new GraphFacts(graph);
            graph.Node.RemoveAt(i);
            var end = graph.Node.Count;
            write(node, facts);
            var added = graph.Node.Skip(end).ToList();
            for (var k = graph.Node.Count - 1; k >= end; k--) graph.Node.RemoveAt(k);
            for (var k = 0; k < added.Count; k++) graph.Node.Insert(i + k, added[k]);
            i += added.Count - 1;
            expanded++;
        }

        return expanded;
    }
}
