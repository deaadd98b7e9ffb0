using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// GridSample on images (<c>F.grid_sample</c>: a spatial transformer's sampler, opset 16 and 20), bilinear or nearest,
/// with zeros, border or reflection padding and either align_corners. Every output pixel reads the input at the grid's location:
/// bilinear mixes the four pixels around it, weights from the location's fractions. So dX is dY times each corner's
/// weight added back at that corner (ScatterElements with reduction add), and d grid is dY times the slope of the mix
/// along x and along y (the corners' differences, weighted by the other axis), times how far a step of the grid moves
/// the location in pixels (zero where border padding clamped it; its sign flipped where reflection mirrored it). Nearest reads one pixel: dY goes back to it, and the
/// grid gets no gradient (the output is flat in it between pixels). Extents are read at run time, so images of any size
/// train. Bicubic is refused naming the node.
/// </summary>
internal static class GridSampleGradient
{
    public static void GridSample(GradientContext c)
    {
        var mode = GraphFacts.AttributeString(c.Node, "mode") ?? "bilinear"; // opset 16 names bilinear what opset 20 names linear
        var padding = GraphFacts.AttributeString(c.Node, "padding_mode") ?? "zeros";
        if (mode is not ("bilinear" or "linear" or "nearest")) throw c.Refuse($"GridSample mode '{mode}' has no gradient rule (bilinear or nearest do)");
        if (padding is not ("zeros" or "border" or "reflection")) throw c.Refuse($"GridSample padding_mode '{padding}' has no gradient rule (zeros, border or reflection do)");
        if (c.RankOf(c.X, "GridSample input") != 4) throw c.Refuse("GridSample of a volume (rank 5) has no gradient rule; images (rank 4) do");
        if (!c.Needs(0) && !c.Needs(1)) return;
        var sampler = new Sampler(c, mode == "nearest", padding, c.Int("align_corners", 0) != 0);
        c.Give(0, sampler.InputGradient);
        c.Give(1, sampler.GridGradient);
    }

    /// <summary>The sampling locations of one GridSample, written once and shared by both gradients.</summary>
    private sealed class Sampler
    {
        private readonly GradientContext _c;
        private readonly GraphWriter _w;
        private readonly bool _nearest;
        private readonly string _flatDy; // [N, C, Ho·Wo]
        private readonly string _width; // W, int64 [1]
        private readonly Axis _x;
        private readonly Axis _y;

        public Sampler(GradientContext c, bool nearest, string padding, bool alignCorners)
        {
            (_c, _w, _nearest) = (c, c.W, nearest);
            var shape = _w.Shape(c.X);
            _width = _w.Node("Gather", [shape, _w.Int64s(3)], Int("axis", 0));
            _flatDy = _w.Node("Reshape", [c.Dy, _w.Int64s(0, 0, -1)]);
            _x = new Axis(_w, c.Input(1), 0, _w.Node("Gather", [shape, _w.Int64Constant(3)], Int("axis", 0)), padding, alignCorners);
            _y = new Axis(_w, c.Input(1), 1, _w.Node("Gather", [shape, _w.Int64Constant(2)], Int("axis", 0)), padding, alignCorners);
        }

        /// <summary>dX: dY times each read pixel's weight, added back at that pixel.</summary>
        public string InputGradient()
        {
            var flatX = _w.Node("Reshape", [_c.X, _w.Int64s(0, 0, -1)]); // [N, C, H·W]
            var sum = _w.Node("ConstantOfShape", [_w.Shape(flatX)], _w.Fill(0));
            foreach (var (y, x, weight) in Corners())
            {
                sum = _w.Node("ScatterElements", [sum, Index(y, x), _w.Node("Mul", [_flatDy, weight])], Int("axis", 2), Str("reduction", "add"));
            }

            return _w.Node("Reshape", [sum, _w.Shape(_c.X)]);
        }

        /// <summary>d grid: dY times the mix's slope along x and along y, in grid units; zero for nearest.</summary>
        public string GridGradient()
        {
            if (_nearest) return _w.Node("ConstantOfShape", [_w.Shape(_c.Input(1))], _w.Fill(0));
            var flatX = _w.Node("Reshape", [_c.X, _w.Int64s(0, 0, -1)]);
            string Read(Corner y, Corner x) => _w.Node("Mul", [_w.Node("GatherElements", [flatX, Index(y, x)], Int("axis", 2)), _w.Node("Mul", [y.Valid, x.Valid])]);
            var (v00, v01, v10, v11) = (Read(_y.Low, _x.Low), Read(_y.Low, _x.High), Read(_y.High, _x.Low), Read(_y.High, _x.High));
            var alongX = _w.Node("Add", [_w.Node("Mul", [_y.Low.Weight, _w.Node("Sub", [v01, v00])]), _w.Node("Mul", [_y.High.Weight, _w.Node("Sub", [v11, v10])])]);
            var alongY = _w.Node("Add", [_w.Node("Mul", [_x.Low.Weight, _w.Node("Sub", [v10, v00])]), _w.Node("Mul", [_x.High.Weight, _w.Node("Sub", [v11, v01])])]);
            string Pull(string slope, Axis axis) => _w.Node("Mul", [_w.Node("ReduceSum", [_w.Node("Mul", [_flatDy, slope]), _w.Int64s(1)], Int("keepdims", 1)), axis.PixelsPerGridUnit]);
            var pairs = _w.Node("Transpose", [_w.Node("Concat", [Pull(alongX, _x), Pull(alongY, _y)], Int("axis", 1))], Ints("perm", 0, 2, 1)); // [N, Ho·Wo, 2]
            return _w.Node("Reshape", [pairs, _w.Shape(_c.Input(1))]);
        }

        /// <summary>The pixels an output reads and their weights, [N, 1, Ho·Wo] each (zero outside the image).</summary>
        private IEnumerable<(Corner Y, Corner X, string Weight)> Corners()
        {
            if (_nearest)
            {
                yield return (_y.Nearest, _x.Nearest, _w.Node("Mul", [_y.Nearest.Valid, _x.Nearest.Valid]));
                yield break;
            }

            foreach (var y in new[] { _y.Low, _y.High })
            {
                foreach (var x in new[] { _x.Low, _x.High }) yield return (y, x, _w.Node("Mul", [_w.Node("Mul", [y.Weight, x.Weight]), _w.Node("Mul", [y.Valid, x.Valid])]));
            }
        }

        /// <summary>Where pixel (y, x) is in a flattened image, [N, C, Ho·Wo] (clamped inside; its weight is zero when it is outside).</summary>
        private string Index(Corner y, Corner x) =>
            _w.Node("Expand", [_w.Node("Add", [_w.Node("Mul", [y.Index, _width]), x.Index]), _w.Shape(_flatDy)]);
    }

    /// <summary>A pixel on one axis an output reads: its index clamped into the image, its weight, and 1 if it is inside (else 0), [N, 1, Ho·Wo] each.</summary>
    private sealed record Corner(string Index, string Weight, string Valid);

    /// <summary>One axis of the grid (x: its entry 0 against the width; y: entry 1 against the height) as pixel locations.</summary>
    private sealed class Axis
    {
        public Axis(GraphWriter w, string grid, long entry, string extent, string padding, bool alignCorners)
        {
            var g = w.Node("Reshape", [w.Node("Gather", [grid, w.Int64Constant(entry)], Int("axis", 3)), w.Int64s(0, 1, -1)]); // [N, 1, Ho·Wo]
            var size = w.Node("Cast", [extent], w.CastToElement());
            var last = w.Node("Sub", [size, w.Scalar(1)]);
            // align_corners: −1 and 1 are the first and last pixels' centres; otherwise the image's outer edges.
            var scale = w.Node("Mul", [alignCorners ? last : size, w.Scalar(0.5)]);
            var location = alignCorners
                ? w.Node("Mul", [w.Node("Add", [g, w.Scalar(1)]), scale])
                : w.Node("Mul", [w.Node("Sub", [w.Node("Mul", [w.Node("Add", [g, w.Scalar(1)]), size]), w.Scalar(1)]), w.Scalar(0.5)]);
            var zero = w.Scalar(0);
            var slope = scale; // pixels per grid unit
            if (padding == "reflection") (location, slope) = Reflect(w, location, slope, alignCorners ? (zero, last) : (w.Scalar(-0.5), w.Node("Sub", [size, w.Scalar(0.5)])));
            if (padding != "zeros")
            {
                // clamped locations do not move with the grid; PyTorch counts the borders as clamped
                slope = w.Node("Mul", [slope, w.Node("Cast", [w.Node("And", [w.Node("Greater", [location, zero]), w.Node("Less", [location, last])])], w.CastToElement())]);
                location = w.Node("Clip", [location, zero, last]);
            }

            PixelsPerGridUnit = slope;
            Corner At(string index, string weight)
            {
                var valid = InRange(w, index, zero, last);
                return new Corner(w.Node("Cast", [w.Node("Clip", [index, zero, last])], Int("to", (long)Proto.TensorProto.Types.DataType.Int64)), weight, valid);
            }

            var low = w.Node("Floor", [location]);
            var fraction = w.Node("Sub", [location, low]);
            Low = At(low, w.Node("Sub", [w.Scalar(1), fraction]));
            High = At(w.Node("Add", [low, w.Scalar(1)]), fraction);
            Nearest = At(w.Node("Round", [location]), w.Scalar(1)); // ONNX Runtime and PyTorch both round half to even
        }

        public Corner Low { get; }

        public Corner High { get; }

        public Corner Nearest { get; }

        /// <summary>How many pixels a step of 1 in the grid moves the location (0 where border padding clamps it), [N, 1, Ho·Wo] or a scalar.</summary>
        public string PixelsPerGridUnit { get; }

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
