using EdgeMlOps.Shared.Onnx.Proto;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;
using Known = EdgeMlOps.Shared.Onnx.Training.SequenceLowering.Known;
using Lists = EdgeMlOps.Shared.Onnx.Training.SequenceLowering.Lists;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// The sequence ops <see cref="SequenceLowering"/> writes out where only the run decides what a list holds: a list
/// whose entries the run may not have made (each with a bool flag; an unrolled loop that stops early keeps its carried
/// list where it still runs), and positions only the run knows. Entries stack (one shape), so a read is a Gather of
/// the stacked entries at the index the flags give — the p-th entry made is the one whose running count of made
/// entries first reaches p + 1 — and dY reaches just the entries read. An insertion or erasure at a run-time position
/// lays the list out in slots (slot k holds its k-th entry; those past its length are never read), each new slot the
/// Where of the old ones its position picks. A position out of range makes a Gather out of range: the step fails, as
/// the model fails on that data, rather than train on something the model does not compute.
/// </summary>
internal static class SequenceRuns
{
    /// <summary>Where(c, then, else) of two lists: a list extending the other flags its extra entries with the condition; else slot by slot.</summary>
    public static Known Select(NodeProto node, Known then, Known otherwise, Lists l)
    {
        var (w, condition) = (l.W, node.Input[0]);
        IReadOnlyList<string> shapes = [.. then.Shapes.Concat(otherwise.Shapes).Distinct(StringComparer.Ordinal)];
        if (Extends(then, otherwise)) return new(then.Tensors, [.. otherwise.Made, .. then.Made.Skip(otherwise.Made.Count).Select(m => And(w, condition, m))], shapes);
        if (Extends(otherwise, then))
        {
            var not = w.Node("Not", [condition]);
            return new(otherwise.Tensors, [.. then.Made, .. otherwise.Made.Skip(then.Made.Count).Select(m => And(w, not, m))], shapes);
        }

        var (a, countA) = Slots(then, w);
        var (b, countB) = Slots(otherwise, w);
        var count = w.Node("Where", [condition, countA, countB]);
        var tensors = Enumerable.Range(0, Math.Max(a.Count, b.Count)).Select(k =>
            k < a.Count && k < b.Count ? a[k] == b[k] ? a[k] : w.Node("Where", [condition, a[k], b[k]]) : k < a.Count ? a[k] : b[k]).ToList();
        return new(tensors, [.. tensors.Select((_, k) => w.Node("Less", [w.Int64Constant(k), count]))], shapes);
    }

    /// <summary>SequenceInsert at a position only the run knows (or into a list whose length only the run knows).</summary>
    public static Known Insert(NodeProto node, Known list, Lists l)
    {
        var w = l.W;
        var (slots, count) = Slots(list, w);
        var x = node.Input[1];
        var at = Position(w, node.Input[2], count, inserting: true);
        var tensors = Enumerable.Range(0, slots.Count + 1).Select(k =>
        {
            var (before, after) = (k < slots.Count ? slots[k] : x, k > 0 ? slots[k - 1] : x);
            var slot = w.Int64Constant(k);
            return w.Node("Where", [w.Node("Less", [slot, at]), before, w.Node("Where", [w.Node("Equal", [slot, at]), x, after])]);
        }).ToList();
        return Resized(list, tensors, w.Node("Add", [count, w.Int64Constant(1)]), [.. list.Shapes, x], w);
    }

    /// <summary>SequenceErase at a position only the run knows (or from a list whose length only the run knows; the last entry without one).</summary>
    public static Known Erase(NodeProto node, Known list, Lists l)
    {
        var w = l.W;
        var (slots, count) = Slots(list, w);
        var at = node.Input.Count > 1 && node.Input[1].Length > 0 ? Position(w, node.Input[1], count, inserting: false) : w.Node("Sub", [count, w.Int64Constant(1)]);
        var tensors = Enumerable.Range(0, slots.Count - 1).Select(k => w.Node("Where", [w.Node("Less", [w.Int64Constant(k), at]), slots[k], slots[k + 1]])).ToList();
        return Resized(list, tensors, w.Node("Sub", [count, w.Int64Constant(1)]), list.Shapes, w);
    }

    /// <summary>SequenceLength, SequenceAt or ConcatFromSequence of a list only the run decides, under the node's output name.</summary>
    public static void Read(NodeProto node, Known list, Lists l)
    {
        var (w, output) = (l.W, node.Output[0]);
        var count = Count(list, w);
        switch (node.OpType)
        {
            case "SequenceLength":
                w.NodeTo(output, "Identity", [count]);
                return;
            case "SequenceAt":
                var at = Position(w, node.Input[1], count, inserting: false);
                w.NodeTo(output, "Gather", [Stacked(list.Tensors, w), list.Fixed ? at : EntryOf(list, at, w)], Int("axis", 0));
                return;
        }

        // ConcatFromSequence: the entries made, stacked on axis 0, moved to the node's axis (and merged with the next one without new_axis).
        var made = w.Node("Compress", [w.Int64s([.. Enumerable.Range(0, list.Tensors.Count).Select(k => (long)k)]), w.Node("Cast", [Flags(list, w)], Int("to", (long)DataType.Bool))], Int("axis", 0));
        var stacked = w.Node("Gather", [Stacked(list.Tensors, w), made], Int("axis", 0));
        var rank = l.Facts.Rank(list.Shapes[0])!.Value;
        var stacking = GraphFacts.AttributeInt(node, "new_axis", 0) != 0;
        var axis = GraphFacts.AttributeInt(node, "axis", 0);
        if (axis < 0) axis += stacking ? rank + 1 : rank;
        var moved = axis == 0 ? stacked : w.Node("Transpose", [stacked], Ints("perm", [.. Enumerable.Range(1, (int)axis).Select(i => (long)i), 0, .. Enumerable.Range((int)axis + 1, rank - (int)axis).Select(i => (long)i)]));
        if (stacking)
        {
            w.NodeTo(output, "Identity", [moved]);
            return;
        }

        var shape = w.Shape(moved); // [..., entries, extent, ...] → [..., entries·extent, ...]
        var merged = w.Node("Concat", [w.Node("Slice", [shape, w.Int64s(0), w.Int64s(axis)]), w.Int64s(-1), w.Node("Slice", [shape, w.Int64s(axis + 2), w.Int64s(rank + 1)])], Int("axis", 0));
        w.NodeTo(output, "Reshape", [moved, merged]);
    }

    /// <summary>Whether <paramref name="longer"/> is <paramref name="prefix"/> with entries after it.</summary>
    private static bool Extends(Known longer, Known prefix) =>
        longer.Tensors.Count >= prefix.Tensors.Count && longer.Tensors.Take(prefix.Tensors.Count).SequenceEqual(prefix.Tensors, StringComparer.Ordinal)
        && longer.Made.Take(prefix.Made.Count).SequenceEqual(prefix.Made);

    private static string And(GraphWriter w, string condition, string? made) => made is null ? condition : w.Node("And", [condition, made]);

    /// <summary>A list of <paramref name="tensors"/> slots holding <paramref name="count"/> entries (a fixed list stays fixed).</summary>
    private static Known Resized(Known list, List<string> tensors, string count, IReadOnlyList<string> shapes, GraphWriter w) =>
        list.Fixed ? Known.Of(tensors) with { Shapes = shapes } : new(tensors, [.. tensors.Select((_, k) => w.Node("Less", [w.Int64Constant(k), count]))], shapes);

    /// <summary>The list laid out in slots — slot k its k-th entry made (slots past its length repeat its last one) — and how many it holds.</summary>
    private static (List<string> Slots, string Count) Slots(Known list, GraphWriter w)
    {
        if (list.Fixed) return ([.. list.Tensors], w.Int64Constant(list.Tensors.Count));
        var stacked = Stacked(list.Tensors, w);
        var last = w.Int64Constant(list.Tensors.Count - 1);
        return ([.. list.Tensors.Select((_, k) => w.Node("Gather", [stacked, w.Node("Min", [EntryOf(list, w.Int64Constant(k), w), last])], Int("axis", 0)))], Count(list, w));
    }

    /// <summary>The index among a list's entries of the one made <paramref name="position"/>-th: how many entries have fewer than position + 1 made up to them.</summary>
    private static string EntryOf(Known list, string position, GraphWriter w)
    {
        var madeSoFar = w.Node("CumSum", [Flags(list, w), w.Int64Constant(0)]);
        return w.Node("ReduceSum", [w.Node("Cast", [w.Node("LessOrEqual", [madeSoFar, position])], Int("to", (long)DataType.Int64))], Int("keepdims", 0));
    }

    /// <summary>How many entries the run made (an int64 scalar).</summary>
    private static string Count(Known list, GraphWriter w) =>
        list.Fixed ? w.Int64Constant(list.Tensors.Count) : w.Node("ReduceSum", [Flags(list, w)], Int("keepdims", 0));

    /// <summary>Each entry's flag as an int64 vector: 1 where the run made it.</summary>
    private static string Flags(Known list, GraphWriter w) =>
        w.Node("Concat", [.. list.Made.Select(m => m is null ? w.Int64s(1) : w.Node("Unsqueeze", [w.Node("Cast", [m], Int("to", (long)DataType.Int64)), w.Int64s(0)]))], Int("axis", 0));

    /// <summary>
    /// A position input (int32 or int64) as an int64 scalar counted from the front of a list of <paramref name="count"/>
    /// entries, made to fail the step where it is out of range (past the end is in range for an insertion).
    /// </summary>
    private static string Position(GraphWriter w, string input, string count, bool inserting)
    {
        var position = w.Node("Reshape", [w.Node("Cast", [input], Int("to", (long)DataType.Int64)), w.Int64s()]);
        var zero = w.Int64Constant(0);
        var front = w.Node("Where", [w.Node("Less", [position, zero]), w.Node("Add", [position, count]), position]);
        var inRange = w.Node("And", [w.Node("GreaterOrEqual", [front, zero]), w.Node(inserting ? "LessOrEqual" : "Less", [front, count])]);
        var outOfRange = w.Node("Cast", [w.Node("Not", [inRange])], Int("to", (long)DataType.Int64));
        return w.Node("Add", [front, w.Node("Gather", [w.Int64s(0), outOfRange], Int("axis", 0))]); // index 1 of a one-element tensor: the step fails
    }

    /// <summary>The tensors stacked on a new first axis.</summary>
    public static string Stacked(IReadOnlyList<string> tensors, GraphWriter w) =>
        tensors.Count == 1 ? w.Node("Unsqueeze", [tensors[0], w.Int64s(0)]) : w.Node("Concat", [.. tensors.Select(t => w.Node("Unsqueeze", [t, w.Int64s(0)]))], Int("axis", 0));
}
