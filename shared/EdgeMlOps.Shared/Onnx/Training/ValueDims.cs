using EdgeMlOps.Shared.Onnx.Proto;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// The extent of each axis of a value as far as it is known without running the graph: a positive extent; a negative
/// number standing for a symbolic extent (a declared <c>dim_param</c> such as <c>batch</c>, one number per name — two
/// axes with the same number have the same extent at run time); or null where nothing is known. Read from initializers
/// and declared shapes and propagated through the ops exporters write (transposes, activations, embeddings,
/// projections, convolutions, pads, resizes, reshapes, squeezes, slices, splits, concatenations, broadcasts, expands,
/// tiles and recurrent layers).
/// </summary>
internal sealed class ValueDims(GraphFacts facts, GraphProto graph)
{
    private readonly Dictionary<string, ValueInfoProto> _declared = graph.Input.Concat(graph.ValueInfo).Concat(graph.Output)
        .GroupBy(i => i.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);

    private const long FirstSymbol = -(1L << 32);
    private readonly Dictionary<string, long?[]?> _known = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _symbols = new(StringComparer.Ordinal);
    private long _unnamed;

    /// <summary>True for the number standing for a symbolic extent (a free axis's dim_param), which is no value a graph computes.</summary>
    public static bool IsSymbol(long value) => value <= FirstSymbol;

    /// <summary>A known positive extent, or null for a symbolic or unknown one.</summary>
    public static long? Extent(long? dim) => dim > 0 ? dim : null;

    public long?[]? Of(string name)
    {
        if (_known.TryGetValue(name, out var known)) return known;
        _known[name] = null; // cycle guard
        var dims = Compute(name);
        _known[name] = dims;
        return dims;
    }

    /// <summary>
    /// As <see cref="Of"/>, where the value's declared shape leaves an axis symbolic that its producer fixes (an
    /// exporter's <c>Reshapebottom_dim_1</c> for a <c>reshape(-1, 4, 8)</c>): the producer's extent for that axis.
    /// </summary>
    public long?[]? Inferred(string name)
    {
        var declared = Of(name);
        if (declared is not null && declared.All(d => d > 0)) return declared;
        var produced = Compute(name, declaredShape: false);
        if (declared is null || produced is null || produced.Length != declared.Length) return declared ?? produced;
        return [.. declared.Zip(produced, (d, p) => d > 0 ? d : p > 0 ? p : d)];
    }

    private long?[]? Compute(string name, bool declaredShape = true)
    {
        if (facts.StaticDims(name) is { } constant) return [.. constant.Select(d => (long?)d)];
        if (declaredShape && _declared.TryGetValue(name, out var info) && info.Type?.TensorType?.Shape is { } shape)
            return [.. shape.Dim.Select(d => d.DimValue > 0 ? d.DimValue : Symbol(d.DimParam))];
        if (facts.Producer(name) is not { } node) return null;
        var output = node.Output.IndexOf(name);
        var x = node.Input.Count > 0 && node.Input[0].Length > 0 ? Of(node.Input[0]) : null;
        switch (node.OpType)
        {
            case "Transpose":
                if (x is null) return null;
                var perm = GraphFacts.AttributeInts(node, "perm") ?? [.. Enumerable.Range(0, x.Length).Reverse().Select(i => (long)i)];
                return [.. perm.Select(p => x[p])];
            case "Add" or "Sub" or "Mul" or "Div" or "Pow" or "Max" or "Min" or "Sum" or "Mean" or "Where" or "PRelu":
                return node.Input.Where(i => i.Length > 0).Select(Of).Aggregate(Broadcast);
            case "Gather":
                var indices = Of(node.Input[1]);
                if (x is null || indices is null) return null;
                var axis = Axis(GraphFacts.AttributeInt(node, "axis", 0), x.Length);
                return [.. x[..axis], .. indices, .. x[(axis + 1)..]];
            case "MatMul":
                var b = Of(node.Input[1]);
                if (x is null || b is null || x.Length < 2 || b.Length < 2) return null;
                var batch = Broadcast(x[..^2], b[..^2]);
                return batch is null ? null : [.. batch, x[^2], b[^1]];
            case "Gemm":
                var w = Of(node.Input[1]);
                if (x is null || w is null) return null;
                return [GraphFacts.AttributeInt(node, "transA", 0) != 0 ? x[1] : x[0], GraphFacts.AttributeInt(node, "transB", 0) != 0 ? w[0] : w[1]];
            case "Relu" or "LeakyRelu" or "Sigmoid" or "Tanh" or "Gelu" or "Erf" or "Identity" or "Dropout" or "Cast" or "Neg" or "Exp" or "Log" or "Sqrt"
                or "Softmax" or "LogSoftmax" or "LayerNormalization" or "BatchNormalization" or "Clip" or "Elu" or "Selu" or "Softplus" or "Softsign"
                or "HardSigmoid" or "HardSwish" or "Abs" or "Sin" or "Cos" or "Reciprocal" or "Mish" or "Celu" or "ThresholdedRelu" or "LpNormalization" or "LRN" or "CumSum" or "Shrink" or "Trilu" or "ScatterND" or "ScatterElements":
                return output == 0 ? x : null;
            case "Unsqueeze" or "Squeeze":
                return x is null || facts.Axes(node, 1) is not { } axes ? null : node.OpType == "Squeeze" ? Squeeze(x, axes) : Unsqueeze(x, axes);
            case "Reshape":
                // The target shape as constants, or as values built at run time (from Shape, with symbols), or only its length.
                var target = facts.ConstantInts(node.Input[1])?.Select(v => (long?)v).ToArray() ?? ValuesOf(node.Input[1])
                    ?? (Of(node.Input[1]) is [long targetRank and > 0] ? new long?[targetRank] : null);
                return target is null ? null : Reshape(x, target);
            case "Flatten":
                if (x is null) return null;
                var at = Axis(GraphFacts.AttributeInt(node, "axis", 1), x.Length + 1);
                return [Product(x[..at]), Product(x[at..])];
            case "Concat":
                var parts = node.Input.Select(Of).ToArray();
                if (parts.Any(p => p is null)) return null;
                var along = Axis(GraphFacts.AttributeInt(node, "axis", 0), parts[0]!.Length);
                var joined = parts[0]!.ToArray();
                joined[along] = parts.Select(p => Extent(p![along])).Aggregate((long?)0, (s, d) => s + d);
                return joined;
            case "Slice":
                return x is null ? null : Slice(node, x);
            case "Pad":
                return x is null ? null : Pad(node, x);
            case "Expand":
                return Broadcast(x, ValuesOf(node.Input[1]) ?? (Of(node.Input[1]) is [long expandRank and > 0] ? new long?[expandRank] : null));
            case "Tile":
                return x is null ? null : ValuesOf(node.Input[1]) is { } repeats && repeats.Length == x.Length
                    ? [.. x.Select((d, i) => repeats[i] == 1 ? d : Extent(d) * repeats[i])]
                    : new long?[x.Length];
            case "Resize":
                if (x is null) return null;
                if (node.Input.Count > 3 && node.Input[3].Length > 0) return ValuesOf(node.Input[3]) is { } resized && resized.Length == x.Length ? resized : new long?[x.Length];
                var resizeScales = node.Input.Count > 2 && node.Input[2].Length > 0 ? facts.ConstantFloats(node.Input[2]) : null;
                if (resizeScales is null || resizeScales.Length != x.Length) return new long?[x.Length];
                return [.. x.Select((d, i) => resizeScales[i] == 1 ? d : Extent(d) is long e ? (long)MathF.Floor(e * resizeScales[i]) : null)];
            case "Split":
                if (x is null) return null;
                var splitAxis = Axis(GraphFacts.AttributeInt(node, "axis", 0), x.Length);
                var sizes = GraphFacts.AttributeInts(node, "split") ?? (node.Input.Count > 1 && node.Input[1].Length > 0 ? facts.ConstantInts(node.Input[1]) : null);
                var part = x.ToArray();
                part[splitAxis] = sizes is not null ? sizes[output] : Extent(x[splitAxis]) / node.Output.Count;
                return part;
            case "Conv" or "MaxPool" or "AveragePool":
                return x is null ? null : Window(node, x, node.OpType == "Conv" ? Of(node.Input[1]) : null);
            case "Shape":
                return x is null || node.Attribute.Count > 0 ? null : [x.Length];
            case "ConstantOfShape":
                if (ValuesOf(node.Input[0]) is { } extents) return extents;
                if (x is not [long length and > 0]) return null;
                return new long?[length];
            case "GRU" or "LSTM" or "RNN":
                return Recurrent(node, output, x);
            case "Compress": // as many along its axis (or in all, flattened) as its condition keeps: known only at run time
                if (x is null) return null;
                if (node.Attribute.All(a => a.Name != "axis")) return [null];
                var kept = x.ToArray();
                kept[Axis(GraphFacts.AttributeInt(node, "axis", 0), x.Length)] = null;
                return kept;
            case "Det":
                return x is { Length: >= 2 } ? x[..^2] : null;
            default:
                return null;
        }
    }

    /// <summary>
    /// The values of a small int64 tensor that holds extents — a shape being built, as exporters build an initial
    /// state's shape from the batch size: constants, <c>Shape</c> (with its symbols), and Gather, Unsqueeze, Squeeze,
    /// Concat, Slice, Cast and Identity of those. A scalar is one value. Null when not known this way.
    /// </summary>
    public long?[]? ValuesOf(string name)
    {
        if (facts.ConstantInts(name) is { } constant) return [.. constant.Select(v => (long?)v)];
        if (facts.Producer(name) is not { } node || node.Input.Count == 0) return null;
        var first = node.Input[0];
        switch (node.OpType)
        {
            case "Shape":
                return node.Attribute.Count > 0 ? null : Of(first);
            case "Unsqueeze" or "Squeeze" or "Cast" or "Identity":
                return ValuesOf(first);
            case "Gather":
                var values = ValuesOf(first);
                var indices = facts.ConstantInts(node.Input[1]);
                if (values is null || indices is null || GraphFacts.AttributeInt(node, "axis", 0) != 0) return null;
                return [.. indices.Select(i => i < 0 ? i + values.Length : i).Select(i => i >= 0 && i < values.Length ? values[i] : null)];
            case "Concat":
                var parts = node.Input.Select(ValuesOf).ToArray();
                return parts.Any(p => p is null) ? null : [.. parts.SelectMany(p => p!)];
            case "Slice":
                var sliced = ValuesOf(first);
                var bounds = node.Input.Skip(1).Select(facts.ConstantInts).ToArray(); // starts, ends, axes (only 0), steps (only 1)
                if (sliced is null || bounds.Length < 2 || bounds.Any(b => b is not [_])) return null;
                if ((bounds.Length > 2 && bounds[2]![0] != 0) || (bounds.Length > 3 && bounds[3]![0] != 1)) return null;
                long Bound(long b) => Math.Clamp(b < 0 ? b + sliced.Length : b, 0, sliced.Length);
                var (from, to) = (Bound(bounds[0]![0]), Bound(bounds[1]![0]));
                return to > from ? sliced[(int)from..(int)to] : [];
            default:
                return null;
        }
    }

    private static long?[] Recurrent(NodeProto node, int output, long?[]? x)
    {
        var hidden = GraphFacts.AttributeInt(node, "hidden_size", 0);
        var directions = GraphFacts.AttributeString(node, "direction") == "bidirectional" ? 2 : 1;
        var (steps, batch) = x is null ? (null, null) : (x[0], x[1]); // layout 0, the only one ONNX Runtime runs
        return output == 0 ? [steps, directions, batch, hidden] : [directions, batch, hidden];
    }

    /// <summary>A Slice keeps its input's rank; a sliced axis's extent is known when the bounds are constants, else unknown.</summary>
    private long?[] Slice(NodeProto node, long?[] x)
    {
        var starts = facts.ConstantInts(node.Input[1]);
        var ends = facts.ConstantInts(node.Input[2]);
        var axes = node.Input.Count > 3 && node.Input[3].Length > 0 ? facts.ConstantInts(node.Input[3]) : starts is null ? null : [.. Enumerable.Range(0, starts.Length).Select(i => (long)i)];
        var steps = node.Input.Count > 4 && node.Input[4].Length > 0 ? facts.ConstantInts(node.Input[4]) : starts?.Select(_ => 1L).ToArray();
        if (axes is null) return new long?[x.Length];
        if (starts is null || ends is null || steps is null)
        {
            var sliced = x.ToArray();
            foreach (var axis in axes) sliced[Axis(axis, x.Length)] = null;
            return sliced;
        }

        var dims = x.ToArray();
        for (var i = 0; i < axes.Length; i++)
        {
            var axis = Axis(axes[i], x.Length);
            if (Extent(x[axis]) is not long extent || steps[i] != 1) { dims[axis] = null; continue; }
            long Clamp(long v) => Math.Clamp(v < 0 ? v + extent : v, 0, extent);
            dims[axis] = Math.Max(0, Clamp(ends[i]) - Clamp(starts[i]));
        }

        return dims;
    }

    /// <summary>A Pad keeps its input's rank; a padded axis's extent is known when the pads (and axes) are constants.</summary>
    private long?[] Pad(NodeProto node, long?[] x)
    {
        var pads = GraphFacts.AttributeInts(node, "pads") ?? (node.Input.Count > 1 ? facts.ConstantInts(node.Input[1]) : null);
        var axes = node.Input.Count > 3 && node.Input[3].Length > 0 ? facts.ConstantInts(node.Input[3]) : [.. Enumerable.Range(0, x.Length).Select(i => (long)i)];
        if (pads is null || axes is null || pads.Length != 2 * axes.Length) return new long?[x.Length];
        var dims = x.ToArray();
        for (var i = 0; i < axes.Length; i++)
        {
            var axis = Axis(axes[i], x.Length);
            if (pads[i] != 0 || pads[i + axes.Length] != 0) dims[axis] = Extent(x[axis]) + pads[i] + pads[i + axes.Length];
        }

        return dims;
    }

    private static long?[]? Window(NodeProto node, long?[] x, long?[]? weight)
    {
        var kernel = GraphFacts.AttributeInts(node, "kernel_shape") ?? weight?.Skip(2).Select(k => k ?? -1).ToArray();
        if (kernel is null || kernel.Any(k => k < 0)) return null;
        var spatial = kernel.Length;
        var strides = GraphFacts.AttributeInts(node, "strides") ?? [.. Enumerable.Repeat(1L, spatial)];
        var dilations = GraphFacts.AttributeInts(node, "dilations") ?? [.. Enumerable.Repeat(1L, spatial)];
        var pads = GraphFacts.AttributeInts(node, "pads") ?? new long[2 * spatial];
        var autoPad = GraphFacts.AttributeString(node, "auto_pad") ?? "NOTSET";
        var ceil = GraphFacts.AttributeInt(node, "ceil_mode", 0) != 0;
        var dims = new long?[x.Length];
        dims[0] = x[0];
        dims[1] = node.OpType == "Conv" ? weight?[0] : x[1];
        for (var i = 0; i < spatial; i++)
        {
            if (Extent(x[2 + i]) is not long extent) continue;
            var reach = dilations[i] * (kernel[i] - 1) + 1;
            dims[2 + i] = autoPad switch
            {
                "SAME_UPPER" or "SAME_LOWER" => (extent + strides[i] - 1) / strides[i],
                "VALID" => (extent - reach) / strides[i] + 1,
                _ when ceil => (extent + pads[i] + pads[i + spatial] - reach + strides[i] - 1) / strides[i] + 1,
                _ => (extent + pads[i] + pads[i + spatial] - reach) / strides[i] + 1,
            };
        }

        return dims;
    }

    /// <summary>A Reshape's output: 0 copies the input's axis, −1 is inferred, a positive extent or a symbol stays, null is unknown.</summary>
    private static long?[] Reshape(long?[]? x, long?[] target)
    {
        var dims = target.Select((d, i) => d == 0 ? (x is not null && i < x.Length ? x[i] : null) : d == -1 ? null : d).ToArray();
        var inferred = Array.IndexOf(target, (long?)-1);
        if (inferred < 0 || x is null || target.Any(d => d is null || d < -1)) return dims;

        // −1 is known when every unknown axis of the input is carried over by a 0 at the same place.
        var carried = Enumerable.Range(0, x.Length).Where(i => i < target.Length && target[i] == 0).ToHashSet();
        if (Enumerable.Range(0, x.Length).Any(i => Extent(x[i]) is null && !carried.Contains(i))) return dims;
        var total = Enumerable.Range(0, x.Length).Where(i => !carried.Contains(i)).Aggregate(1L, (p, i) => p * x[i]!.Value);
        var other = Enumerable.Range(0, target.Length).Where(i => i != inferred && !carried.Contains(i)).Aggregate(1L, (p, i) => p * target[i]!.Value);
        dims[inferred] = other == 0 ? null : total / other;
        return dims;
    }

    private static long?[] Squeeze(long?[] x, long[] axes)
    {
        var drop = axes.Select(a => Axis(a, x.Length)).ToHashSet();
        return [.. x.Where((_, i) => !drop.Contains(i))];
    }

    private static long?[] Unsqueeze(long?[] x, long[] axes)
    {
        var rank = x.Length + axes.Length;
        var added = axes.Select(a => Axis(a, rank)).ToHashSet();
        var dims = new long?[rank];
        for (int i = 0, source = 0; i < rank; i++) dims[i] = added.Contains(i) ? 1 : x[source++];
        return dims;
    }

    /// <summary>
    /// Numpy broadcasting of two shapes: 1 takes the other extent; equal extents (or the same symbol) stay; a known
    /// extent over 1 wins over a symbol or an unknown (a valid graph's other extent is then 1 or the same); anything
    /// else is unknown.
    /// </summary>
    private static long?[]? Broadcast(long?[]? a, long?[]? b)
    {
        if (a is null || b is null) return null;
        var rank = Math.Max(a.Length, b.Length);
        var dims = new long?[rank];
        for (var i = 0; i < rank; i++)
        {
            var da = i - (rank - a.Length) >= 0 ? a[i - (rank - a.Length)] : 1;
            var db = i - (rank - b.Length) >= 0 ? b[i - (rank - b.Length)] : 1;
            dims[i] = da == 1 ? db : db == 1 ? da : da == db ? da : da > 1 ? da : db > 1 ? db : null;
        }

        return dims;
    }

    /// <summary>The product of extents: one axis stays as it is (symbol included); several must all be known.</summary>
    private static long? Product(long?[] dims) => dims.Length == 1 ? dims[0] : dims.All(d => d > 0) ? dims.Aggregate((long?)1, (p, d) => p * d) : null;

    /// <summary>The number standing for a symbolic extent: one per dim_param name, a fresh one for an unnamed axis.</summary>
    private long Symbol(string name)
    {
        if (string.IsNullOrEmpty(name)) return -(1L << 40) - ++_unnamed; // unnamed: equal to no other axis
        if (!_symbols.TryGetValue(name, out var symbol)) _symbols[name] = symbol = FirstSymbol - _symbols.Count; // far from −1 and 0, which mean something in a Reshape's target
        return symbol;
    }

    private static int Axis(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);
}
