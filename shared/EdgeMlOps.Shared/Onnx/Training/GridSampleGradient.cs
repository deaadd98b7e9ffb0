using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// GridSample on images (<c>F.grid_sample</c>: a spatial transformer's sampler, opset 16 and 20) in every mode —
/// bilinear, nearest, bicubic — and on volumes (rank 5, opset 20: a 3-D spatial transformer, a registration network's
/// warp) trilinear or nearest, with zeros, border or reflection padding and either align_corners. Every output pixel
/// reads the input around the grid's location: a mix of taps (2×2 bilinear, 4×4 bicubic, 2×2×2 trilinear, one
/// nearest), each weighted by a function of the location's fraction along x times one along y (times one along z).
/// So dX is dY times each tap's weight added back at that tap (ScatterElements with reduction add), and d grid is dY
/// times the mix's slope along each axis — the taps' values times that axis's weight derivative and the others'
/// weights — times how far a step of the grid moves the location in pixels (zero where padding clamped it; its sign
/// flipped where reflection mirrored it). Bilinear and nearest pad the location, as PyTorch does; bicubic pads each
/// tap. Nearest's mix is flat between pixels, so the grid gets no gradient. Extents are read at run time, so images
/// and volumes of any size train.
/// </summary>
internal static class GridSampleGradient
{
    public static void GridSample(GradientContext c)
    {
        var mode = GraphFacts.AttributeString(c.Node, "mode") ?? "bilinear"; // opset 16's bilinear and bicubic are opset 20's linear and cubic
        var padding = GraphFacts.AttributeString(c.Node, "padding_mode") ?? "zeros";
        var kind = mode switch
        {
            "bilinear" or "linear" => Interpolation.Linear,
            "bicubic" or "cubic" => Interpolation.Cubic,
            "nearest" => Interpolation.Nearest,
            _ => throw c.Refuse($"GridSample mode '{mode}' has no gradient rule (bilinear, bicubic or nearest do)"),
        };
        if (padding is not ("zeros" or "border" or "reflection")) throw c.Refuse($"GridSample padding_mode '{padding}' has no gradient rule (zeros, border or reflection do)");
        var rank = c.RankOf(c.X, "GridSample input");
        if (rank is not (4 or 5)) throw c.Refuse($"GridSample of rank {rank} has no gradient rule; images (rank 4) and volumes (rank 5) do");
        if (rank == 5 && kind == Interpolation.Cubic) throw c.Refuse("GridSample's cubic mode is defined on images (rank 4) only; a volume samples linear or nearest");
        if (!c.Needs(0) && !c.Needs(1)) return;
        var sampler = new Sampler(c, kind, padding, c.Int("align_corners", 0) != 0, rank - 2);
        c.Give(0, sampler.InputGradient);
        c.Give(1, sampler.GridGradient);
    }

    private enum Interpolation
    {
        Linear,
        Cubic,
        Nearest,
    }

    /// <summary>The taps of one GridSample, written once and shared by both gradients.</summary>
    private sealed class Sampler
    {
        private readonly GradientContext _c;
        private readonly GraphWriter _w;
        private readonly bool _flat; // nearest: no gradient to the grid
        private readonly string _flatDy; // [N, C, Ho·Wo(·Do)]
        private readonly string _flatX; // [N, C, H·W(·D)]
        private readonly IReadOnlyList<Axis> _axes; // x, y (, z): the grid's entries in order, against W, H (, D)
        private readonly IReadOnlyList<string> _strides; // how far one pixel along each axis is in the flattened input, int64 [1]

        public Sampler(GradientContext c, Interpolation kind, string padding, bool alignCorners, int dims)
        {
            (_c, _w, _flat) = (c, c.W, kind == Interpolation.Nearest);
            var shape = _w.Shape(c.X);
            string Extent(int axis) => _w.Node("Gather", [shape, _w.Int64Constant(axis)], Int("axis", 0));
            _flatDy = _w.Node("Reshape", [c.Dy, _w.Int64s(0, 0, -1)]);
            _flatX = _w.Node("Reshape", [c.X, _w.Int64s(0, 0, -1)]);
            _axes = [.. Enumerable.Range(0, dims).Select(entry => new Axis(_w, c.Input(1), entry, dims, Extent(dims + 1 - entry), kind, padding, alignCorners))];
            var strides = new List<string> { _w.Int64s(1) };
            for (var entry = 1; entry < dims; entry++) strides.Add(_w.Node("Mul", [strides[^1], _w.Node("Gather", [shape, _w.Int64s(dims + 2 - entry)], Int("axis", 0))]));
            _strides = strides;
        }

        /// <summary>Every combination of one tap per axis (x, y, z in each): the pixels an output reads, x varying fastest.</summary>
        private IEnumerable<Tap[]> Corners() =>
            _axes.Reverse().Aggregate((IEnumerable<Tap[]>)[[]], (corners, axis) => corners.SelectMany(corner => axis.Taps.Select(tap => (Tap[])[tap, .. corner])));

        /// <summary>dX: dY times each tap's weight, added back at that pixel.</summary>
        public string InputGradient()
        {
            var sum = _w.Node("ConstantOfShape", [_w.Shape(_flatX)], _w.Fill(0));
            foreach (var corner in Corners())
            {
                var weight = _w.Node("Mul", [Product(corner.Select(t => t.Weight)), Product(corner.Select(t => t.Valid))]);
                sum = _w.Node("ScatterElements", [sum, Index(corner), _w.Node("Mul", [_flatDy, weight])], Int("axis", 2), Str("reduction", "add"));
            }

            return _w.Node("Reshape", [sum, _w.Shape(_c.X)]);
        }

        /// <summary>d grid: dY times the mix's slope along each axis, in grid units; zero for nearest.</summary>
        public string GridGradient()
        {
            if (_flat) return _w.Node("ConstantOfShape", [_w.Shape(_c.Input(1))], _w.Fill(0));
            var along = new string?[_axes.Count];
            foreach (var corner in Corners())
            {
                var value = _w.Node("Mul", [_w.Node("GatherElements", [_flatX, Index(corner)], Int("axis", 2)), Product(corner.Select(t => t.Valid))]);
                for (var a = 0; a < corner.Length; a++)
                {
                    var others = Product(corner.Select((t, k) => k == a ? t.Slope : t.Weight)); // this axis's slope, the others' weights
                    along[a] = along[a] is { } total ? _w.Node("Add", [total, _w.Node("Mul", [value, others])]) : _w.Node("Mul", [value, others]);
                }
            }

            string Pull(string slope, Axis axis) => _w.Node("Mul", [_w.Node("ReduceSum", [_w.Node("Mul", [_flatDy, slope]), _w.Int64s(1)], Int("keepdims", 1)), axis.PixelsPerGridUnit]);
            var entries = _w.Node("Transpose", [_w.Node("Concat", [.. along.Select((slope, a) => Pull(slope!, _axes[a]))], Int("axis", 1))], Ints("perm", 0, 2, 1)); // [N, Ho·Wo(·Do), dims]
            return _w.Node("Reshape", [entries, _w.Shape(_c.Input(1))]);
        }

        private string Product(IEnumerable<string> factors) => factors.Aggregate((a, b) => _w.Node("Mul", [a, b]));

        /// <summary>Where a corner's pixel is in the flattened input, [N, C, Ho·Wo(·Do)] (clamped inside; its weight is zero when it is outside).</summary>
        private string Index(Tap[] corner) =>
            _w.Node("Expand", [corner.Select((t, a) => a == 0 ? t.Index : _w.Node("Mul", [t.Index, _strides[a]])).Aggregate((p, q) => _w.Node("Add", [p, q])), _w.Shape(_flatDy)]);
    }

    /// <summary>
    /// A pixel on one axis an output reads: its index clamped into the image, its weight, the weight's derivative by
    /// the location, and 1 if it is inside (else 0), [N, 1, Ho·Wo] each.
    /// </summary>
    private sealed record Tap(string Index, string Weight, string Slope, string Valid);

    /// <summary>One axis of the grid (x: its entry 0 against the width; y: entry 1 against the height; z: entry 2 against a volume's depth) as pixel locations and the taps read there.</summary>
    private sealed class Axis
    {
        /// <summary>The cubic convolution's A, as PyTorch and ONNX Runtime take it.</summary>
        private const double A = -0.75;

        public Axis(GraphWriter w, string grid, long entry, int dims, string extent, Interpolation kind, string padding, bool alignCorners)
        {
            var g = w.Node("Reshape", [w.Node("Gather", [grid, w.Int64Constant(entry)], Int("axis", dims + 1)), w.Int64s(0, 1, -1)]); // [N, 1, Ho·Wo(·Do)]
            var size = w.Node("Cast", [extent], w.CastToElement());
            var last = w.Node("Sub", [size, w.Scalar(1)]);
            // align_corners: −1 and 1 are the first and last pixels' centres; otherwise the image's outer edges.
            var scale = w.Node("Mul", [alignCorners ? last : size, w.Scalar(0.5)]);
            var location = alignCorners
                ? w.Node("Mul", [w.Node("Add", [g, w.Scalar(1)]), scale])
                : w.Node("Mul", [w.Node("Sub", [w.Node("Mul", [w.Node("Add", [g, w.Scalar(1)]), size]), w.Scalar(1)]), w.Scalar(0.5)]);
            var zero = w.Scalar(0);
            (string Low, string High) mirror = alignCorners ? (zero, last) : (w.Scalar(-0.5), w.Node("Sub", [size, w.Scalar(0.5)]));

            // A coordinate padded: mirrored (reflection), then clamped (border and reflection); the slope it keeps.
            (string Coordinate, string Slope) Padded(string coordinate, string slope)
            {
                if (padding == "zeros") return (coordinate, slope);
                if (padding == "reflection") (coordinate, slope) = Reflect(w, coordinate, slope, mirror);
                var inside = w.Node("Cast", [w.Node("And", [w.Node("Greater", [coordinate, zero]), w.Node("Less", [coordinate, last])])], w.CastToElement());
                return (w.Node("Clip", [coordinate, zero, last]), w.Node("Mul", [slope, inside])); // PyTorch counts the borders as clamped
            }

            Tap At(string index, string weight, string slope)
            {
                var valid = InRange(w, index, zero, last);
                return new Tap(w.Node("Cast", [w.Node("Clip", [index, zero, last])], Int("to", (long)Proto.TensorProto.Types.DataType.Int64)), weight, slope, valid);
            }

            if (kind == Interpolation.Cubic)
            {
                // Bicubic pads each of its four taps, not the location: the location moves with the grid everywhere.
                PixelsPerGridUnit = scale;
                var floor = w.Node("Floor", [location]);
                var t = w.Node("Sub", [location, floor]);
                Taps = [.. Enumerable.Range(-1, 4).Select(k =>
                {
                    var (weight, slope) = CubicWeight(w, t, k);
                    var tap = Padded(w.Node("Add", [floor, w.Scalar(k)]), zero).Coordinate;
                    return At(tap, weight, slope);
                })];
                return;
            }

            (location, PixelsPerGridUnit) = Padded(location, scale);
            if (kind == Interpolation.Nearest)
            {
                Taps = [At(w.Node("Round", [location]), w.Scalar(1), zero)]; // ONNX Runtime and PyTorch both round half to even
                return;
            }

            var low = w.Node("Floor", [location]);
            var fraction = w.Node("Sub", [location, low]);
            Taps = [At(low, w.Node("Sub", [w.Scalar(1), fraction]), w.Scalar(-1)), At(w.Node("Add", [low, w.Scalar(1)]), fraction, w.Scalar(1))];
        }

        /// <summary>The taps an output reads on this axis, in order.</summary>
        public IReadOnlyList<Tap> Taps { get; }

        /// <summary>How many pixels a step of 1 in the grid moves the location (0 where padding clamps it, negative where reflection mirrors it), [N, 1, Ho·Wo] or a scalar.</summary>
        public string PixelsPerGridUnit { get; }

        /// <summary>
        /// The cubic convolution weight of the tap <paramref name="k"/> pixels from the one at or left of the location
        /// (k = −1 … 2), at fraction <paramref name="t"/>, and its derivative by t.
        /// </summary>
        private static (string Weight, string Slope) CubicWeight(GraphWriter w, string t, int k)
        {
            // Distance d from the tap: 1 + t, t, 1 − t, 2 − t; dd/dt = +1, +1, −1, −1.
            var d = k switch { -1 => w.Node("Add", [t, w.Scalar(1)]), 0 => t, 1 => w.Node("Sub", [w.Scalar(1), t]), _ => w.Node("Sub", [w.Scalar(2), t]) };
            var sign = k <= 0 ? 1.0 : -1.0;
            string Poly(params double[] c) // c[0]·d³ + c[1]·d² + c[2]·d + c[3], by Horner
            {
                var value = w.Scalar(c[0]);
                foreach (var coefficient in c.Skip(1)) value = w.Node("Add", [w.Node("Mul", [value, d]), w.Scalar(coefficient)]);
                return value;
            }

            // |d| ≤ 1: (A+2)d³ − (A+3)d² + 1; 1 < |d| < 2: A·d³ − 5A·d² + 8A·d − 4A.
            var near = k is 0 or 1;
            var weight = near ? Poly(A + 2, -(A + 3), 0, 1) : Poly(A, -5 * A, 8 * A, -4 * A);
            var derivative = near ? Poly(3 * (A + 2), -2 * (A + 3), 0) : Poly(3 * A, -10 * A, 8 * A);
            return (weight, w.Node("Mul", [derivative, w.Scalar(sign)]));
        }

        /// <summary>
        /// PyTorch's reflection: the location mirrored about <paramref name="bounds"/> (the first and last pixels'
        /// centres with align_corners, else the image's edges) until it falls between them; each mirror flips the
        /// slope. A span of 0 (one pixel, align_corners) reads that pixel and passes no gradient.
        /// </summary>
        private static (string Location, string Slope) Reflect(GraphWriter w, string location, string slope, (string Low, string High) bounds)
        {
            var span = w.Node("Sub", [bounds.High, bounds.Low]);
            var empty = w.Node("Equal", [span, w.Scalar(0)]);
            var safeSpan = w.Node("Where", [empty, w.Scalar(1), span]);
            var offset = w.Node("Sub", [location, bounds.Low]);
            var distance = w.Node("Abs", [offset]);
            var flips = w.Node("Floor", [w.Node("Div", [distance, safeSpan])]);
            var extra = w.Node("Sub", [distance, w.Node("Mul", [flips, safeSpan])]);
            var even = w.Node("Equal", [w.Node("Sub", [flips, w.Node("Mul", [w.Node("Floor", [w.Node("Mul", [flips, w.Scalar(0.5)])]), w.Scalar(2)])]), w.Scalar(0)]);
            var mirrored = w.Node("Add", [w.Node("Where", [even, extra, w.Node("Sub", [safeSpan, extra])]), bounds.Low]);
            var sign = w.Node("Mul", [w.Node("Where", [w.Node("Less", [offset, w.Scalar(0)]), w.Scalar(-1), w.Scalar(1)]), w.Node("Where", [even, w.Scalar(1), w.Scalar(-1)])]);
            return (w.Node("Where", [empty, w.Scalar(0), mirrored]), w.Node("Where", [empty, w.Scalar(0), w.Node("Mul", [slope, sign])]));
        }

        private static string InRange(GraphWriter w, string value, string low, string high) =>
            w.Node("Cast", [w.Node("And", [w.Node("GreaterOrEqual", [value, low]), w.Node("LessOrEqual", [value, high])])], w.CastToElement());
    }
}
