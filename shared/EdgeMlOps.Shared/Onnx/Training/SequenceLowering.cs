using EdgeMlOps.Shared.Onnx.Proto;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// Writes a graph's sequences out as the tensors they hold, in the train step only. A scripted model that collects a
/// value per iteration in a list and stacks it (<c>outs.append(h)</c> … <c>torch.stack(outs, 1)</c>) exports as
/// SequenceEmpty, a SequenceInsert in a Loop's body and a ConcatFromSequence; one that walks <c>rows.unbind(1)</c> as
/// SplitToSequence, a Loop over its SequenceLength and a SequenceAt in the body. Every sequence whose tensors are known
/// — from SequenceEmpty, SequenceConstruct, SequenceInsert and SequenceErase at known positions, and SplitToSequence
/// by a constant split or along an axis of known extent (written as a Split) — is read without it: SequenceAt becomes
/// an Identity, SequenceLength a constant (so a loop over it has a known trip count), ConcatFromSequence an
/// Unsqueeze-and-Concat, ops with gradient rules. Run before and after each level of control flow is unrolled, so the
/// lists built in unrolled bodies resolve too; the sequence ops left unread are pruned with the rest. A known sequence
/// read at a position only the run knows (<c>outs[last]</c>, the state at a sequence's last valid step) is stacked and
/// read with a Gather at that position, when its tensors have one shape. A sequence that stays unknown (appended at a
/// position computed at run time, or in a loop that stops early) keeps its ops, and training through them is refused
/// naming the op.
/// </summary>
internal static class SequenceLowering
{
    /// <summary>Whether <paramref name="node"/> reads a sequence's tensors (left in a train step: that sequence was not known).</summary>
    public static bool Reads(NodeProto node) => node.OpType is "SequenceAt" or "ConcatFromSequence";

    /// <summary>Reads of known sequences written as tensor ops, and SplitToSequence as a Split; returns how many nodes it replaced.</summary>
    public static int Apply(GraphProto graph, GraphWriter writer)
    {
        if (!graph.Node.Any(n => n.OpType.StartsWith("Sequence", StringComparison.Ordinal) || n.OpType is "SplitToSequence" or "ConcatFromSequence")) return 0;
        var facts = new GraphFacts(graph);
        var lists = new Dictionary<string, List<string>>(StringComparer.Ordinal); // a known sequence's name → the tensors it holds, in order
        var splits = new Dictionary<NodeProto, (long[] Lengths, bool Squeeze)>(); // a SplitToSequence to write as a Split → its pieces
        bool Lowered(NodeProto node)
        {
            if (Track(node, facts, lists) is { } pieces) splits[node] = pieces;
            return splits.ContainsKey(node) || (node.OpType is "SequenceAt" or "SequenceLength" or "ConcatFromSequence" && Read(node, facts, lists) is not null)
                || Gathered(node, facts, lists) is not null;
        }

        return NodeExpansion.Apply(graph, Lowered, (node, _) =>
        {
            if (splits.TryGetValue(node, out var pieces)) WriteSplit(node, pieces.Lengths, pieces.Squeeze, writer, lists);
            else if (Read(node, facts, lists) is { } read) WriteRead(node, read, writer);
            else writer.NodeTo(node.Output[0], "Gather", [Stacked(Gathered(node, facts, lists)!, writer), node.Input[1]], Int("axis", 0));
        });
    }

    /// <summary>Records the tensors a sequence-making node's output holds when known; for a SplitToSequence that can be written as a Split, its pieces.</summary>
    private static (long[] Lengths, bool Squeeze)? Track(NodeProto node, GraphFacts facts, Dictionary<string, List<string>> lists)
    {
        List<string>? Input() => node.Input.Count > 0 && lists.TryGetValue(node.Input[0], out var list) ? list : null;
        var output = node.Output.Count > 0 ? node.Output[0] : string.Empty;
        switch (node.OpType)
        {
            case "SequenceEmpty":
                lists[output] = [];
                break;
            case "SequenceConstruct":
                lists[output] = [.. node.Input];
                break;
            case "Identity" when Input() is { } same:
                lists[output] = same;
                break;
            case "SequenceInsert" when Input() is { } list && Position(node, 2, facts, list.Count, inserting: true) is { } at:
                lists[output] = [.. list[..at], node.Input[1], .. list[at..]];
                break;
            case "SequenceErase" when Input() is { } list && Position(node, 1, facts, list.Count, inserting: false) is { } at:
                lists[output] = [.. list[..at], .. list[(at + 1)..]];
                break;
            case "SplitToSequence":
                return SplitLengths(node, facts);
        }

        return null;
    }

    /// <summary>What a SequenceAt, SequenceLength or ConcatFromSequence of a known sequence reads (the tensors, or the one at its position), or null.</summary>
    private static List<string>? Read(NodeProto node, GraphFacts facts, Dictionary<string, List<string>> lists)
    {
        if (!lists.TryGetValue(node.Input[0], out var list)) return null;
        return node.OpType switch
        {
            "SequenceAt" => Position(node, 1, facts, list.Count, inserting: false) is { } at ? [list[at]] : null,
            "ConcatFromSequence" => list.Count > 0 ? list : null,
            _ => list,
        };
    }

    /// <summary>
    /// The tensors of a known sequence a SequenceAt reads at a position only the run knows, when they can have one shape
    /// and so stack — one known rank, and no axis where two known extents differ (an extent known only at run time that
    /// differed would fail the stacking loudly, at the aggregator's probe or in the step, never train silently); else null.
    /// </summary>
    private static List<string>? Gathered(NodeProto node, GraphFacts facts, Dictionary<string, List<string>> lists)
    {
        if (node.OpType != "SequenceAt" || node.Input.Count < 2 || node.Input[1].Length == 0 || !lists.TryGetValue(node.Input[0], out var list) || list.Count == 0) return null;
        if (Position(node, 1, facts, list.Count, inserting: false) is not null || facts.Rank(node.Input[1]) is not 0) return null; // known: read directly; a position is a scalar
        var ranks = list.Select(facts.Rank).Distinct().ToList();
        if (ranks is not [{ } rank]) return null;
        var shapes = list.Select(facts.Dims).Where(d => d is not null).ToList();
        for (var axis = 0; axis < rank; axis++)
        {
            if (shapes.Select(d => ValueDims.Extent(d![axis])).Where(e => e is not null).Distinct().Count() > 1) return null; // two known extents differ: they do not stack
        }

        return list;
    }

    /// <summary>The tensors stacked on a new first axis, for a Gather at a position the run decides (dY reaches the tensor read).</summary>
    private static string Stacked(List<string> tensors, GraphWriter w) =>
        tensors.Count == 1 ? w.Node("Unsqueeze", [tensors[0], w.Int64s(0)]) : w.Node("Concat", [.. tensors.Select(t => w.Node("Unsqueeze", [t, w.Int64s(0)]))], Int("axis", 0));

    private static void WriteRead(NodeProto node, List<string> tensors, GraphWriter w)
    {
        var output = node.Output[0];
        switch (node.OpType)
        {
            case "SequenceAt":
                w.NodeTo(output, "Identity", [tensors[0]]);
                break;
            case "SequenceLength":
                w.NodeTo(output, "Identity", [w.Int64Constant(tensors.Count)]);
                break;
            default: // ConcatFromSequence: along an axis, or stacked on a new one
                var axis = GraphFacts.AttributeInt(node, "axis", 0);
                var parts = GraphFacts.AttributeInt(node, "new_axis", 0) != 0 ? tensors.Select(t => w.Node("Unsqueeze", [t, w.Int64s(axis)])).ToList() : tensors;
                if (parts.Count == 1) w.NodeTo(output, "Identity", parts);
                else w.NodeTo(output, "Concat", parts, Int("axis", axis));
                break;
        }
    }

    /// <summary>SplitToSequence as a Split into pieces of <paramref name="lengths"/> (<paramref name="squeeze"/>d), then the sequence of them for any reader left.</summary>
    private static void WriteSplit(NodeProto node, long[] lengths, bool squeeze, GraphWriter w, Dictionary<string, List<string>> lists)
    {
        var axis = GraphFacts.AttributeInt(node, "axis", 0);
        string[] pieces = lengths.Length == 1 ? [w.Node("Identity", [node.Input[0]])] : w.Nodes("Split", [node.Input[0], w.Int64s(lengths)], lengths.Length, Int("axis", axis));
        List<string> tensors = [.. pieces.Select(p => squeeze ? w.Node("Squeeze", [p, w.Int64s(axis)]) : p)];
        w.NodeTo(node.Output[0], "SequenceConstruct", tensors);
        lists[node.Output[0]] = tensors;
    }

    /// <summary>
    /// The pieces a SplitToSequence makes — by its split's lengths, by chunks of a scalar split, or ones along an axis of
    /// known extent — and whether they lose the axis (keepdims 0 without a 1-D split, as ONNX Runtime reads it), or null
    /// when not known.
    /// </summary>
    private static (long[] Lengths, bool Squeeze)? SplitLengths(NodeProto node, GraphFacts facts)
    {
        var x = node.Input[0];
        if (facts.Rank(x) is not { } rank) return null;
        var axis = GraphFacts.AttributeInt(node, "axis", 0);
        if (axis < 0) axis += rank;
        var extent = facts.Dims(x) is { } dims && axis >= 0 && axis < dims.Length ? dims[axis] : null;
        var dropped = GraphFacts.AttributeInt(node, "keepdims", 1) == 0;
        if (node.Input.Count < 2 || node.Input[1].Length == 0) return extent is > 0 and <= 4096 ? ([.. Enumerable.Repeat(1L, (int)extent.Value)], dropped) : null;
        if (facts.Values(node.Input[1]) is not { Length: > 0 } values || values.Any(v => v is null) || facts.Rank(node.Input[1]) is not { } splitRank) return null;
        if (splitRank != 0) return ([.. values.Select(v => v!.Value)], false);
        if (values[0] is not { } chunk || chunk <= 0 || extent is not { } length || length <= 0 || (dropped && chunk != 1)) return null;
        return ([.. Enumerable.Range(0, (int)((length + chunk - 1) / chunk)).Select(i => Math.Min(chunk, length - (i * chunk)))], dropped);
    }

    /// <summary>The position input <paramref name="input"/> names in a sequence of <paramref name="count"/> (absent: the end), or null when not known or out of range.</summary>
    private static int? Position(NodeProto node, int input, GraphFacts facts, int count, bool inserting)
    {
        if (node.Input.Count <= input || node.Input[input].Length == 0) return inserting ? count : count - 1;
        if (facts.Values(node.Input[input]) is not [{ } at]) return null;
        var position = at < 0 ? at + count : at;
        return position >= 0 && position <= (inserting ? count : count - 1) ? (int)position : null;
    }
}
