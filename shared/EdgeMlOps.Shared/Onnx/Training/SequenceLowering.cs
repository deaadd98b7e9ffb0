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
/// lists built in unrolled bodies resolve too; the sequence ops left unread are pruned with the rest.
/// <para>
/// What only the run decides is written out too, for tensors of one shape (one known rank, no two known extents
/// differing): a list a loop that stops early appends to — unrolled, the loop keeps its carried list where it still
/// runs (a Where of two lists), so each entry carries a flag saying whether the run made it (<see cref="Known"/>) — and
/// a list read, appended to or erased at a position only the run knows. Reading such a list stacks its entries and
/// Gathers the ones the run made (so dY reaches just those); an insertion or erasure at a run-time position first
/// lays the list out in slots. A position out of range fails the step, as it fails the model. A sequence that stays
/// unknown (tensors of different shapes) keeps its ops, and training through them is refused naming the op.
/// </para>
/// </summary>
internal static class SequenceLowering
{
    /// <summary>Whether <paramref name="node"/> reads a sequence's tensors (left in a train step: that sequence was not known).</summary>
    public static bool Reads(NodeProto node) => node.OpType is "SequenceAt" or "ConcatFromSequence";

    /// <summary>
    /// A Where between two lists that a read left after lowering still reads — a branch the data decides, or a loop that
    /// stops early, carrying a list whose tensors do not stack — or null. ONNX has no Where of sequences, so a step
    /// holding one would not run. Found by walking back from each read left (its list input) through the ops that make
    /// a list from another; the lists the lowering wrote out are read by nothing left, and pruned.
    /// </summary>
    public static NodeProto? UnwrittenChoice(GraphProto graph)
    {
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var node in graph.Node) foreach (var output in node.Output) producers.TryAdd(output, node);
        var pending = new Stack<string>(graph.Node.Where(n => (Reads(n) || n.OpType == "SequenceLength") && n.Input.Count > 0).Select(n => n.Input[0]));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (pending.TryPop(out var list))
        {
            if (!seen.Add(list) || !producers.TryGetValue(list, out var maker)) continue;
            if (maker.OpType == "Where") return maker;
            if (maker.OpType is "Identity" or "SequenceInsert" or "SequenceErase" && maker.Input.Count > 0) pending.Push(maker.Input[0]);
        }

        return null;
    }

    /// <summary>Reads of known sequences written as tensor ops, and SplitToSequence as a Split; returns how many nodes it replaced.</summary>
    public static int Apply(GraphProto graph, GraphWriter writer)
    {
        if (!graph.Node.Any(n => n.OpType.StartsWith("Sequence", StringComparison.Ordinal) || n.OpType is "SplitToSequence" or "ConcatFromSequence")) return 0;
        var facts = new GraphFacts(graph);
        var lists = new Dictionary<string, Known>(StringComparer.Ordinal); // a known sequence's name → its entries
        var writes = new Dictionary<NodeProto, Action>();
        bool Lowered(NodeProto node)
        {
            if (Plan(node, new Lists(facts, lists, writer)) is not { } write) return false;
            writes[node] = write;
            return true;
        }

        return NodeExpansion.Apply(graph, Lowered, (node, _) => writes[node]());
    }

    /// <summary>
    /// A known sequence: its entries in order, whether the run made each one (a bool scalar; null: always), and the
    /// tensors whose shapes its entries have (what says they stack). Without flags, the entries are the sequence.
    /// </summary>
    internal sealed record Known(IReadOnlyList<string> Tensors, IReadOnlyList<string?> Made, IReadOnlyList<string> Shapes)
    {
        public static Known Of(IReadOnlyList<string> tensors) => new(tensors, [.. tensors.Select(_ => (string?)null)], tensors);

        /// <summary>Whether every entry is there whatever the data (the sequence is its tensors).</summary>
        public bool Fixed => Made.All(m => m is null);
    }

    /// <summary>The facts, the known sequences and the writer one pass works with.</summary>
    internal sealed record Lists(GraphFacts Facts, Dictionary<string, Known> Sequences, GraphWriter W)
    {
        public Known? Of(NodeProto node, int input) => node.Input.Count > input && Sequences.TryGetValue(node.Input[input], out var known) ? known : null;
    }

    /// <summary>
    /// Records a sequence-making node's output when its entries are known statically (null: nothing to write), or the
    /// writing of a node this pass replaces — a read of a known sequence, a SplitToSequence, or an op on a sequence
    /// that only the run decides — or null when the sequence stays unknown.
    /// </summary>
    private static Action? Plan(NodeProto node, Lists l)
    {
        var output = node.Output.Count > 0 ? node.Output[0] : string.Empty;
        switch (node.OpType)
        {
            case "SequenceEmpty":
                l.Sequences[output] = Known.Of([]);
                return null;
            case "SequenceConstruct":
                l.Sequences[output] = Known.Of([.. node.Input]);
                return null;
            case "Identity" when l.Of(node, 0) is { } same:
                l.Sequences[output] = same;
                return null;
            case "SequenceInsert" when l.Of(node, 0) is { } list:
                var appended = node.Input.Count < 3 || node.Input[2].Length == 0;
                if (list.Fixed && Position(node, 2, l.Facts, list.Tensors.Count, inserting: true) is { } at)
                    l.Sequences[output] = Known.Of([.. list.Tensors.Take(at), node.Input[1], .. list.Tensors.Skip(at)]) with { Shapes = [.. list.Shapes, node.Input[1]] };
                else if (appended) l.Sequences[output] = list with { Tensors = [.. list.Tensors, node.Input[1]], Made = [.. list.Made, null], Shapes = [.. list.Shapes, node.Input[1]] };
                else return Stacks([.. list.Shapes, node.Input[1]], l.Facts) ? Keeping(node, l, () => SequenceRuns.Insert(node, list, l)) : null;
                return null;
            case "SequenceErase" when l.Of(node, 0) is { } list:
                if (list.Fixed && Position(node, 1, l.Facts, list.Tensors.Count, inserting: false) is { } gone)
                    l.Sequences[output] = Known.Of([.. list.Tensors.Take(gone), .. list.Tensors.Skip(gone + 1)]) with { Shapes = list.Shapes };
                else return list.Tensors.Count > 0 && Stacks(list.Shapes, l.Facts) ? Keeping(node, l, () => SequenceRuns.Erase(node, list, l)) : null;
                return null;
            case "Where" when l.Of(node, 1) is { } then && l.Of(node, 2) is { } otherwise: // a loop's carried list kept while it runs, a branch's list the data picks
                return Stacks([.. then.Shapes, .. otherwise.Shapes], l.Facts) ? Keeping(node, l, () => SequenceRuns.Select(node, then, otherwise, l)) : null;
            case "SplitToSequence":
                return SplitLengths(node, l.Facts) is { } pieces ? () => WriteSplit(node, pieces.Lengths, pieces.Squeeze, l) : null;
            case "SequenceAt" or "SequenceLength" or "ConcatFromSequence" when l.Of(node, 0) is { } read:
                if (read.Fixed && Read(node, l.Facts, read.Tensors) is { } tensors) return () => WriteRead(node, tensors, l.W);
                if (read.Tensors.Count == 0 || !Stacks(read.Shapes, l.Facts) || (node.OpType == "SequenceAt" && l.Facts.Rank(node.Input[1]) is not 0)) return null;
                return () => SequenceRuns.Read(node, read, l);
        }

        return null;
    }

    /// <summary>The writing of a sequence-making node the run decides: its entries' nodes, then the node itself (pruned once nothing reads it).</summary>
    private static Action Keeping(NodeProto node, Lists l, Func<Known> write) => () =>
    {
        l.Sequences[node.Output[0]] = write();
        l.W.Graph.Node.Add(node);
    };

    /// <summary>What a SequenceAt, SequenceLength or ConcatFromSequence of a sequence of <paramref name="list"/> reads when known statically (the tensors, or the one at its position), or null.</summary>
    private static IReadOnlyList<string>? Read(NodeProto node, GraphFacts facts, IReadOnlyList<string> list) => node.OpType switch
    {
        "SequenceAt" => Position(node, 1, facts, list.Count, inserting: false) is { } at ? [list[at]] : null,
        "ConcatFromSequence" => list.Count > 0 ? list : null,
        _ => list,
    };

    /// <summary>
    /// Whether tensors can have one shape and so stack — one known rank, and no axis where two known extents differ (an
    /// extent known only at run time that differed would fail the stacking loudly, at the aggregator's probe or in the
    /// step, never train silently).
    /// </summary>
    private static bool Stacks(IReadOnlyList<string> tensors, GraphFacts facts)
    {
        if (tensors.Select(facts.Rank).Distinct().ToList() is not [{ } rank]) return false;
        var shapes = tensors.Select(facts.Dims).Where(d => d is not null).ToList();
        return Enumerable.Range(0, rank).All(axis => shapes.Select(d => ValueDims.Extent(d![axis])).Where(e => e is not null).Distinct().Count() <= 1);
    }

    private static void WriteRead(NodeProto node, IReadOnlyList<string> tensors, GraphWriter w)
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
    private static void WriteSplit(NodeProto node, long[] lengths, bool squeeze, Lists l)
    {
        var w = l.W;
        var axis = GraphFacts.AttributeInt(node, "axis", 0);
        string[] pieces = lengths.Length == 1 ? [w.Node("Identity", [node.Input[0]])] : w.Nodes("Split", [node.Input[0], w.Int64s(lengths)], lengths.Length, Int("axis", axis));
        List<string> tensors = [.. pieces.Select(p => squeeze ? w.Node("Squeeze", [p, w.Int64s(axis)]) : p)];
        w.NodeTo(node.Output[0], "SequenceConstruct", tensors);
        l.Sequences[node.Output[0]] = Known.Of(tensors);
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
