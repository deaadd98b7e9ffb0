using EdgeMlOps.Shared.Onnx.Proto;
using EdgeMlOps.Shared.Onnx.Training;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;
using Build = EdgeMlOps.Runtime.Tests.Training.RecurrentCases.Build;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// Every gradient rule against central finite differences of the loss, in double precision, through a one-op (or
/// few-op) graph whose parameters are all trained, with mean squared error on its output.
/// </summary>
public class OpGradientTests
{
    private static readonly Dictionary<string, (Build Build, int Opset)> Cases = new()
    {
        ["Gemm"] = (g => (g.Node("Gemm", [g.Input("x", [3, 4]), g.Param("w", [4, 5]), g.Param("b", [5])]), [3, 5]), 17),
        ["Gemm transA transB alpha beta, C [1,5]"] = (g => (g.Node("Gemm", [g.Input("x", [4, 3]), g.Param("w", [5, 4]), g.Param("b", [1, 5])],
            Int("transA", 1), Int("transB", 1), F("alpha", 0.7f), F("beta", 1.3f)), [3, 5]), 17),
        ["Gemm transA, C [3,5]"] = (g => (g.Node("Gemm", [g.Param("a", [4, 3]), g.Param("w", [4, 5]), g.Param("b", [3, 5])], Int("transA", 1)), [3, 5]), 17),
        ["MatMul 2-D"] = (g => (g.Node("MatMul", [g.Param("a", [3, 4]), g.Param("w", [4, 5])]), [3, 5]), 17),
        ["MatMul 3-D by 2-D weight"] = (g => (g.Node("MatMul", [g.Node("Tanh", [g.Param("a", [2, 3, 4])]), g.Param("w", [4, 5])]), [2, 3, 5]), 17),
        ["MatMul 3-D by broadcast 3-D"] = (g => (g.Node("MatMul", [g.Param("a", [2, 3, 4]), g.Param("b", [1, 4, 5])]), [2, 3, 5]), 17),
        ["Add broadcast"] = (g => (g.Node("Add", [g.Param("a", [3, 4]), g.Param("b", [4])]), [3, 4]), 17),
        ["Sub broadcast"] = (g => (g.Node("Sub", [g.Param("a", [1, 4]), g.Param("b", [3, 4])]), [3, 4]), 17),
        ["Mul broadcast"] = (g => (g.Node("Mul", [g.Param("a", [3, 4]), g.Param("b", [3, 1])]), [3, 4]), 17),
        ["Div broadcast"] = (g => (g.Node("Div", [g.Param("a", [3, 4]), g.Param("b", [4], scale: 0.3, offset: 3)]), [3, 4]), 17),
        ["Neg"] = (g => (g.Node("Neg", [g.Param("a", [3, 4])]), [3, 4]), 17),
        ["Exp"] = (g => (g.Node("Exp", [g.Param("a", [3, 4])]), [3, 4]), 17),
        ["Log of Sigmoid"] = (g => (g.Node("Log", [g.Node("Sigmoid", [g.Param("a", [3, 4])])]), [3, 4]), 17),
        ["Sqrt of Exp"] = (g => (g.Node("Sqrt", [g.Node("Exp", [g.Param("a", [3, 4])])]), [3, 4]), 17),
        ["Pow by a constant"] = (g => (g.Node("Pow", [g.Param("a", [3, 4]), g.Param("three", [], scale: 0, offset: 3)]), [3, 4]), 17),
        ["Relu"] = (g => (g.Node("Relu", [g.Param("a", [3, 4])]), [3, 4]), 17),
        ["LeakyRelu"] = (g => (g.Node("LeakyRelu", [g.Param("a", [3, 4])], F("alpha", 0.2f)), [3, 4]), 17),
        ["Sigmoid"] = (g => (g.Node("Sigmoid", [g.Param("a", [3, 4])]), [3, 4]), 17),
        ["Tanh"] = (g => (g.Node("Tanh", [g.Param("a", [3, 4])]), [3, 4]), 17),
        ["Clip"] = (g => (g.Node("Clip", [g.Param("a", [3, 4]), g.Param("lo", [], 0, -0.5), g.Param("hi", [], 0, 0.6)]), [3, 4]), 17),
        ["Softmax"] = (g => (g.Node("Softmax", [g.Param("a", [3, 4])], Int("axis", -1)), [3, 4]), 17),
        ["LogSoftmax on axis 1 of 3"] = (g => (g.Node("LogSoftmax", [g.Param("a", [2, 3, 4])], Int("axis", 1)), [2, 3, 4]), 17),
        ["Identity and Dropout"] = (g => (g.Node("Dropout", [g.Node("Identity", [g.Param("a", [3, 4])])]), [3, 4]), 17),
        ["Flatten"] = (g => (g.Node("Flatten", [g.Param("a", [2, 3, 4])], Int("axis", 1)), [2, 12]), 17),
        ["Reshape"] = (g => (g.Node("Reshape", [g.Param("a", [3, 6]), g.Ints(3, 2, -1)]), [3, 2, 3]), 17),
        ["Squeeze and Unsqueeze"] = (g => (g.Node("Unsqueeze", [g.Node("Squeeze", [g.Param("a", [3, 1, 4]), g.Ints(1)]), g.Ints(0)]), [1, 3, 4]), 17),
        ["Transpose"] = (g => (g.Node("Transpose", [g.Param("a", [2, 3, 4])], Ints("perm", 2, 0, 1)), [4, 2, 3]), 17),
        ["Concat"] = (g => (g.Node("Concat", [g.Param("a", [3, 2]), g.Input("x", [3, 1]), g.Param("b", [3, 4])], Int("axis", 1)), [3, 7]), 17),
        ["Gather (embedding)"] = (g => (g.Node("Gather", [g.Param("e", [6, 4]), g.IntInput("i", [5], [4, 0, 4, 2, 5])]), [5, 4]), 17),
        ["Gather axis 1, a scalar index (a transformer's first-token pick)"] = (g => (g.Node("Gather", [g.Param("h", [2, 3, 4]), g.IntInput("i", [], [0])], Int("axis", 1)), [2, 4]), 17),
        ["Gather axis -1, 2-D indices, repeated"] = (g => (g.Node("Gather", [g.Param("a", [2, 3, 5]), g.IntInput("i", [2, 2], [4, 0, 4, 1])], Int("axis", -1)), [2, 3, 2, 2]), 17),
        ["Gather axis 1 of 4, 1-D indices, behind a Tanh"] = (g => (g.Node("Gather", [g.Node("Tanh", [g.Param("a", [2, 4, 3, 2])]), g.IntInput("i", [3], [3, 1, 3])], Int("axis", 1)), [2, 3, 3, 2]), 17),
        ["Slice"] = (g => (g.Node("Slice", [g.Param("a", [3, 6]), g.Ints(1, -4), g.Ints(3, 100), g.Ints(0, 1)]), [2, 4]), 17),
        ["Slice with bounds computed at run time (as torch.chunk exports them)"] = (g => (g.Node("Slice", [g.Param("a", [2, 6, 3]),
            g.Node("Div", [g.Node("Gather", [g.Node("Shape", [g.Param("b", [2, 6, 3])]), g.Ints(1)], Int("axis", 0)), g.Ints(2)]),
            g.Node("Gather", [g.Node("Shape", [g.Param("c", [2, 6, 3])]), g.Ints(1)], Int("axis", 0)), g.Ints(1)]), [2, 3, 3]), 17),
        ["ReduceSum"] = (g => (g.Node("ReduceSum", [g.Param("a", [3, 4]), g.Ints(1)], Int("keepdims", 0)), [3]), 17),
        ["ReduceMean (opset 18 axes input)"] = (g => (g.Node("ReduceMean", [g.Param("a", [3, 4, 2]), g.Ints(0, 2)]), [1, 4, 1]), 18),
        ["LayerNormalization"] = (g => (g.Node("LayerNormalization", [g.Node("MatMul", [g.Input("x", [3, 4]), g.Param("w", [4, 5])]), g.Param("s", [5], 0.3, 1), g.Param("b", [5])]), [3, 5]), 17),
        ["BatchNormalization (frozen statistics)"] = (g => (g.Node("BatchNormalization", [g.Node("Mul", [g.Input("x", [2, 3, 4, 4]), g.Param("k", [1, 3, 1, 1], 0.3, 1)]),
            g.Param("s", [3], 0.3, 1), g.Param("b", [3]), g.Param("m", [3], 0.1), g.Param("v", [3], 0.1, 1)], F("epsilon", 1e-3f)), [2, 3, 4, 4]), 17),
        ["Abs"] = (g => (g.Node("Abs", [g.Param("a", [3, 4])]), [3, 4]), 17),
        ["Sin and Cos (as positional encodings write them)"] = (g => (g.Node("Add", [g.Node("Sin", [g.Param("a", [3, 4], 2)]), g.Node("Cos", [g.Param("b", [3, 4], 2)])]), [3, 4]), 17),
        ["Reciprocal"] = (g => (g.Node("Reciprocal", [g.Param("a", [3, 4], 0.3, 1.5)]), [3, 4]), 17),
        ["ReduceL2 over axis 1, keepdims 0 (F.normalize's norm)"] = (g => (g.Node("ReduceL2", [g.Param("a", [2, 3, 4])], Ints("axes", 1), Int("keepdims", 0)), [2, 4]), 17),
        ["ReduceL2, axes as an input (opset 18)"] = (g => (g.Node("ReduceL2", [g.Param("a", [2, 3, 4]), g.Ints(-1)]), [2, 3, 1]), 18),
        ["ReduceSumSquare over every axis"] = (g => (g.Node("ReduceSumSquare", [g.Param("a", [2, 3, 4])]), [1, 1, 1]), 17),
        ["ReduceL1 over axis -1, keepdims 0"] = (g => (g.Node("ReduceL1", [g.Param("a", [3, 4])], Ints("axes", -1), Int("keepdims", 0)), [3]), 17),
        ["ReduceLogSumExp over axis 0 (torch.logsumexp)"] = (g => (g.Node("ReduceLogSumExp", [g.Param("a", [3, 4], 2)], Ints("axes", 0)), [1, 4]), 17),
        ["LpNormalization p = 2 along axis 1"] = (g => (g.Node("LpNormalization", [g.Param("a", [2, 3, 4])], Int("axis", 1)), [2, 3, 4]), 17),
        ["LpNormalization p = 1 along the last axis"] = (g => (g.Node("LpNormalization", [g.Param("a", [3, 4])], Int("p", 1)), [3, 4]), 17),
        ["CumSum along axis 1"] = (g => (g.Node("CumSum", [g.Param("a", [2, 5, 3]), g.Ints(1)]), [2, 5, 3]), 17),
        ["CumSum exclusive and reversed along axis 0"] = (g => (g.Node("CumSum", [g.Param("a", [4, 3]), g.Ints(0)], Int("exclusive", 1), Int("reverse", 1)), [4, 3]), 17),
        ["TopK values, 2 largest along the last axis, behind a Tanh"] = (g => (g.Nodes("TopK", [g.Node("Tanh", [g.Param("a", [3, 5])]), g.Ints(2)], 2)[0], [3, 2]), 17),
        ["TopK values, 2 smallest along axis 0"] = (g => (g.Nodes("TopK", [g.Param("a", [4, 3]), g.Ints(2)], 2, Int("axis", 0), Int("largest", 0))[0], [2, 3]), 17),
        ["GatherElements along axis 1, an index picked twice (torch.gather)"] = (g => (g.Node("GatherElements", [g.Param("a", [2, 4]), g.IntInput("i", [2, 3], [0, 3, 3, 1, 1, 2])], Int("axis", 1)), [2, 3]), 17),
        ["CastLike to the type of another value (x.type_as(y)), behind a Tanh"] = (g => (g.Node("CastLike", [g.Node("Tanh", [g.Param("a", [3, 4])]), g.Param("like", [2])]), [3, 4]), 17),
        ["GatherND of elements, one picked twice (tf.gather_nd)"] = (g => (g.Node("GatherND", [g.Param("a", [3, 4]), g.IntInput("i", [4, 2], [0, 1, 2, 3, 0, 1, 1, 0])]), [4]), 17),
        ["GatherND of rows of a 3-D tensor, behind a Tanh"] = (g => (g.Node("GatherND", [g.Node("Tanh", [g.Param("a", [2, 3, 4])]), g.IntInput("i", [2, 2, 2], [1, 2, 0, 0, 0, 1, 1, 2])]), [2, 2, 4]), 17),
        ["GatherND with batch_dims 1 (a row per batch entry, one picked twice)"] = (g => (g.Node("GatherND", [g.Param("a", [2, 3, 4]), g.IntInput("i", [2, 3, 1], [2, 0, 2, 1, 1, 0])], Int("batch_dims", 1)), [2, 3, 4]), 17),
        ["GatherND with batch_dims 2, elements"] = (g => (g.Node("GatherND", [g.Param("a", [2, 3, 4]), g.IntInput("i", [2, 3, 1], [3, 0, 1, 2, 2, 0])], Int("batch_dims", 2)), [2, 3]), 17),
        ["ReduceLogSum over axis 1 of positive values"] = (g => (g.Node("ReduceLogSum", [g.Node("Exp", [g.Param("a", [3, 4, 2])])], Ints("axes", 1), Int("keepdims", 0)), [3, 2]), 17),
        ["Slice step 2 on two axes (x[:, ::2, 1::2])"] = (g => (g.Node("Slice", [g.Param("a", [2, 5, 6]), g.Ints(0, 1), g.Ints(5, 6), g.Ints(1, 2), g.Ints(2, 2)]), [2, 3, 3]), 17),
        ["Slice step -1 (torch.flip)"] = (g => (g.Node("Slice", [g.Param("a", [2, 4, 3]), g.Ints(-1), g.Ints(long.MinValue), g.Ints(1), g.Ints(-1)]), [2, 4, 3]), 17),
        ["Tile 1×2×3 (x.repeat)"] = (g => (g.Node("Tile", [g.Param("a", [2, 3, 2]), g.Ints(1, 2, 3)]), [2, 6, 6]), 17),
        ["DepthToSpace DCR (nn.PixelShuffle's order in ONNX)"] = (g => (g.Node("DepthToSpace", [g.Param("a", [2, 8, 2, 3])], Int("blocksize", 2)), [2, 2, 4, 6]), 17),
        ["DepthToSpace CRD (nn.PixelShuffle)"] = (g => (g.Node("DepthToSpace", [g.Param("a", [2, 8, 2, 3])], Int("blocksize", 2), S("mode", "CRD")), [2, 2, 4, 6]), 17),
        ["SpaceToDepth"] = (g => (g.Node("SpaceToDepth", [g.Param("a", [2, 2, 4, 6])], Int("blocksize", 2)), [2, 8, 2, 3]), 17),
        ["Pad reflect (nn.ReflectionPad2d), behind a Tanh"] = (g => (g.Node("Pad", [g.Node("Tanh", [g.Param("a", [1, 2, 4, 5])]), g.Ints(0, 0, 1, 2, 0, 0, 2, 1)], S("mode", "reflect")), [1, 2, 7, 8]), 17),
        ["Pad edge on one axis (opset 18 axes)"] = (g => (g.Node("Pad", [g.Param("a", [2, 3, 4]), g.Ints(2, 1), "", g.Ints(2)], S("mode", "edge")), [2, 3, 7]), 18),
        ["Pad wrap (opset 19)"] = (g => (g.Node("Pad", [g.Param("a", [2, 5]), g.Ints(0, 2, 0, 3)], S("mode", "wrap")), [2, 10]), 19),
        ["ScatterND (x[[0, 2]] = v)"] = (g => (g.Node("ScatterND", [g.Param("a", [3, 4]), g.IntInput("i", [2, 1], [0, 2]), g.Param("v", [2, 4])]), [3, 4]), 17),
        ["ScatterElements along axis 1"] = (g => (g.Node("ScatterElements", [g.Param("a", [2, 4]), g.IntInput("i", [2, 2], [0, 3, 1, 2]), g.Param("v", [2, 2])], Int("axis", 1)), [2, 4]), 17),
        ["ScatterElements adding, an index written twice (opset 16)"] = (g => (g.Node("ScatterElements", [g.Param("a", [2, 4]), g.IntInput("i", [2, 2], [0, 0, 1, 2]), g.Param("v", [2, 2])],
            Int("axis", 1), S("reduction", "add")), [2, 4]), 16),
        ["Trilu lower (torch.tril)"] = (g => (g.Node("Trilu", [g.Param("a", [2, 4, 4])], Int("upper", 0)), [2, 4, 4]), 17),
        ["Einsum bhid,bhjd->bhij (attention scores)"] = (g => (g.Node("Einsum", [g.Param("q", [2, 2, 3, 4]), g.Param("k", [2, 2, 5, 4])], S("equation", "bhid,bhjd->bhij")), [2, 2, 3, 5]), 17),
        ["Einsum implicit output (ij,jk)"] = (g => (g.Node("Einsum", [g.Param("a", [3, 4]), g.Param("b", [4, 5])], S("equation", "ij, jk")), [3, 5]), 17),
        ["Einsum summing a letter only one operand has (bij,b->bi)"] = (g => (g.Node("Einsum", [g.Param("a", [2, 3, 4]), g.Param("b", [2])], S("equation", "bij,b->bi")), [2, 3]), 17),
        ["Einsum to a scalar (ij,ij->), then broadcast"] = (g => (g.Node("Add", [g.Node("Einsum", [g.Param("a", [3, 4]), g.Param("b", [3, 4])], S("equation", "ij,ij->")), g.Param("c", [2, 3])]), [2, 3]), 17),
        ["Einsum with an ellipsis (...ij,...jk->...ik)"] = (g => (g.Node("Einsum", [g.Param("a", [2, 3, 4]), g.Param("b", [2, 4, 5])], S("equation", "...ij,...jk->...ik")), [2, 3, 5]), 17),
        ["PRelu, a slope per channel"] = (g => (g.Node("PRelu", [g.Param("a", [2, 3, 4]), g.Param("slope", [3, 1], 0.2, 0.25)]), [2, 3, 4]), 17),
        ["Max of two, broadcast"] = (g => (g.Node("Max", [g.Param("a", [3, 4]), g.Param("b", [4])]), [3, 4]), 17),
        ["Min of two"] = (g => (g.Node("Min", [g.Param("a", [3, 4]), g.Param("b", [3, 4])]), [3, 4]), 17),
        ["Sum of three, broadcast"] = (g => (g.Node("Sum", [g.Param("a", [3, 4]), g.Param("b", [4]), g.Param("c", [3, 1])]), [3, 4]), 17),
        ["Where, a mask from the input"] = (g => (g.Node("Where", [g.Node("Greater", [g.Input("x", [3, 4]), g.Param("t", [], 0, 0)]), g.Param("a", [3, 4]), g.Param("b", [4])]), [3, 4]), 17),
        ["Cast to the model's type"] = (g => (g.Node("Cast", [g.Param("a", [3, 4])], Int("to", (long)DataType.Double)), [3, 4]), 17),
        ["Expand"] = (g => (g.Node("Expand", [g.Param("a", [3, 1]), g.Ints(2, 3, 4)]), [2, 3, 4]), 17),
        ["ReduceProd over axis 1, keepdims 0"] = (g => (g.Node("ReduceProd", [g.Param("a", [2, 3, 4], 1, 0.5)], Ints("axes", 1), Int("keepdims", 0)), [2, 4]), 17),
        // dx of a zero is the product of the others (non-zero only when it is its group's one zero); y/x would divide by it.
        ["ReduceProd, one zero per group (opset 18 axes input)"] = (g => (g.Node("ReduceProd", [g.Node("Concat", [g.Param("a", [2, 3]), g.Param("zero", [2, 1], 0)], Int("axis", 1)), g.Ints(1)]), [2, 1]), 18),
        // (The group with zeros is second: the first label is sin 0 = 0, which a zero product would already match.)
        ["ReduceProd, none in one group, two zeros in the other"] = (g => (g.Node("ReduceProd", [g.Node("Concat", [g.Param("b", [1, 4]),
            g.Node("Concat", [g.Param("a", [1, 2]), g.Param("zeros", [1, 2], 0)], Int("axis", 1))], Int("axis", 0))], Ints("axes", 1)), [2, 1]), 17),
        ["Compress along axis 1 (x[:, mask])"] = (g => (g.Node("Compress", [g.Param("a", [2, 4, 3]), g.Node("Cast", [g.Floats(1, 0, 1, 1)], Int("to", (long)DataType.Bool))], Int("axis", 1)), [2, 3, 3]), 17),
        ["Compress of the flattened tensor, a mask shorter than it"] = (g => (g.Node("Compress", [g.Param("a", [2, 3]), g.Node("Cast", [g.Floats(0, 1, 1, 0, 1)], Int("to", (long)DataType.Bool))]), [3]), 17),
        ["ReverseSequence, time-major, lengths 3 and 1 (a bidirectional RNN as TensorFlow converters write it)"] = (g => (g.Node("ReverseSequence", [g.Param("a", [4, 2, 3]), g.IntInput("lengths", [2], [3, 1])],
            Int("batch_axis", 1), Int("time_axis", 0)), [4, 2, 3]), 17),
        ["Mod fmod = 1 (torch.fmod), a broadcast divisor"] = (g => (g.Node("Mod", [g.Param("a", [3, 4], 4), g.Param("b", [4], 0.3, 1.5)], Int("fmod", 1)), [3, 4]), 17),
        ["Split into three, one output unused"] = (g => (g.Node("Concat", [.. g.Nodes("Split", [g.Param("a", [3, 7]), g.Ints(2, 4, 1)], 3, Int("axis", 1))[..2]], Int("axis", 1)), [3, 6]), 17),
        ["Pad, constant, two axes"] = (g => (g.Node("Pad", [g.Param("a", [2, 3, 4]), g.Ints(0, 1, 2, 0, 2, 1)]), [2, 6, 7]), 17),
        ["Pad with pads computed at run time (as F.pad exports them)"] = (g => (g.Node("Pad", [g.Param("a", [2, 3, 4]), g.Node("Cast", [g.Ints(0, 2, 0, 0, 1, 3)], Int("to", 7))]), [2, 6, 7]), 17),
        ["Pad cropping one side of an axis (a negative pad)"] = (g => (g.Node("Pad", [g.Param("a", [2, 3, 5]), g.Ints(0, -1, 2, 0, 1, -1)]), [2, 3, 6]), 17),
        ["ReduceMax over one axis"] = (g => (g.Node("ReduceMax", [g.Param("a", [3, 4, 2]), g.Ints(1)], Int("keepdims", 0)), [3, 2]), 18),
        ["ReduceMin over all axes, keepdims"] = (g => (g.Node("ReduceMin", [g.Param("a", [3, 4])]), [1, 1]), 18),
        ["MaxPool"] = (g => (g.Node("MaxPool", [g.Param("a", [2, 3, 4, 6])], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)), [2, 3, 2, 3]), 17),
        ["MaxPool 3x3 stride 2, ceil_mode (as SqueezeNet exports)"] = (g => (g.Node("MaxPool", [g.Param("a", [1, 2, 6, 6])], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Int("ceil_mode", 1)), [1, 2, 3, 3]), 17),
        // A spatial transformer's sampler (opset 20; ONNX Runtime runs opset 16's in float only, below): the grid a
        // parameter too, its values reaching past the image on every side.
        ["GridSample linear, zeros padding"] = (g => (g.Node("GridSample", [g.Param("a", [2, 3, 4, 5]), g.Param("grid", [2, 3, 4, 2], 0.7)], S("mode", "linear")), [2, 3, 3, 4]), 20),
        ["GridSample linear, border padding, align_corners, behind a Tanh"] = (g => (g.Node("GridSample", [g.Node("Tanh", [g.Param("a", [1, 2, 5, 4])]), g.Param("grid", [1, 3, 3, 2], 0.8)],
            S("mode", "linear"), S("padding_mode", "border"), Int("align_corners", 1)), [1, 2, 3, 3]), 20),
        ["GridSample nearest, zeros padding"] = (g => (g.Node("GridSample", [g.Param("a", [2, 2, 4, 4]), g.Node("Mul", [g.Input("grid", [2, 3, 3, 2]), g.Param("k", [], 0, 0.6)])], S("mode", "nearest")), [2, 2, 3, 3]), 20),
        ["GridSample linear, reflection padding, the grid past the image by more than its width"] = (g => (g.Node("GridSample", [g.Param("a", [1, 2, 4, 5]), g.Param("grid", [1, 3, 4, 2], 1.6)],
            S("mode", "linear"), S("padding_mode", "reflection")), [1, 2, 3, 4]), 20),
        ["GridSample linear, reflection padding, align_corners, behind a Tanh"] = (g => (g.Node("GridSample", [g.Node("Tanh", [g.Param("a", [2, 1, 3, 4])]), g.Param("grid", [2, 3, 3, 2], 1.4)],
            S("mode", "linear"), S("padding_mode", "reflection"), Int("align_corners", 1)), [2, 1, 3, 3]), 20),
        ["GridSample nearest, reflection padding"] = (g => (g.Node("GridSample", [g.Param("a", [1, 2, 4, 4]), g.Node("Mul", [g.Input("grid", [1, 3, 3, 2]), g.Param("k", [], 0, 1.7)])],
            S("mode", "nearest"), S("padding_mode", "reflection")), [1, 2, 3, 3]), 20),
        ["GridSample cubic, zeros padding"] = (g => (g.Node("GridSample", [g.Param("a", [2, 2, 5, 6]), g.Param("grid", [2, 3, 4, 2], 0.8)], S("mode", "cubic")), [2, 2, 3, 4]), 20),
        ["GridSample cubic, border padding, align_corners, behind a Tanh"] = (g => (g.Node("GridSample", [g.Node("Tanh", [g.Param("a", [1, 2, 4, 5])]), g.Param("grid", [1, 3, 3, 2], 0.9)],
            S("mode", "cubic"), S("padding_mode", "border"), Int("align_corners", 1)), [1, 2, 3, 3]), 20),
        ["GridSample cubic, reflection padding"] = (g => (g.Node("GridSample", [g.Param("a", [1, 1, 4, 4]), g.Param("grid", [1, 3, 4, 2], 1.2)],
            S("mode", "cubic"), S("padding_mode", "reflection")), [1, 1, 3, 4]), 20),
        ["GridSample of a volume, trilinear, zeros padding (a 3-D spatial transformer)"] = (g => (g.Node("GridSample", [g.Param("a", [2, 2, 3, 4, 5]), g.Param("grid", [2, 2, 3, 2, 3], 0.7)], S("mode", "linear")), [2, 2, 2, 3, 2]), 20),
        ["GridSample of a volume, trilinear, border padding, align_corners, behind a Tanh"] = (g => (g.Node("GridSample", [g.Node("Tanh", [g.Param("a", [1, 2, 4, 3, 4])]), g.Param("grid", [1, 2, 2, 3, 3], 0.9)],
            S("mode", "linear"), S("padding_mode", "border"), Int("align_corners", 1)), [1, 2, 2, 2, 3]), 20),
        ["GridSample of a volume, trilinear, reflection padding past its edges"] = (g => (g.Node("GridSample", [g.Param("a", [1, 1, 3, 4, 4]), g.Param("grid", [1, 2, 2, 3, 3], 1.5)],
            S("mode", "linear"), S("padding_mode", "reflection")), [1, 1, 2, 2, 3]), 20),
        ["GridSample of a volume, nearest"] = (g => (g.Node("GridSample", [g.Param("a", [1, 2, 3, 4, 4]), g.Node("Mul", [g.Input("grid", [1, 2, 2, 2, 3]), g.Param("k", [], 0, 0.6)])], S("mode", "nearest")), [1, 2, 2, 2, 2]), 20),
        ["GridSample linear, an upsampling grid"] = (g => (g.Node("GridSample", [g.Param("a", [1, 2, 3, 3]), g.Param("grid", [1, 5, 6, 2], 0.5)], S("mode", "linear")), [1, 2, 5, 6]), 20),
        ["MaxPool, auto_pad SAME_UPPER (as TensorFlow exports)"] = (g => (g.Node("MaxPool", [g.Param("a", [2, 3, 5, 5])], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2), S("auto_pad", "SAME_UPPER")), [2, 3, 3, 3]), 17),
    };

    /// <summary>Ops ONNX Runtime runs in float only: checked in float against differences at a larger step.</summary>
    private static readonly Dictionary<string, (Build Build, int Opset)> FloatCases = new()
    {
        ["Erf"] = (g => (g.Node("Erf", [g.Param("a", [3, 4])]), [3, 4]), 17),
        // ONNX Runtime computes Det in float only: the cofactors (determinants of the minors), batched, and where X is singular.
        ["Det of a batch of 3×3 matrices (torch.det), behind a Tanh"] = (g => (g.Node("Det", [g.Node("Tanh", [g.Param("a", [2, 3, 3], 1.5)])]), [2]), 17),
        ["Det of a 4×4 matrix, times a parameter"] = (g => (g.Node("Mul", [g.Node("Det", [g.Param("a", [4, 4], 1.2)]), g.Param("k", [3], 0.5, 1)]), [3]), 17),
        ["Det of a singular matrix (its third row the sum of the others, plus a parameter at 0): the gradient is not zero"] = (g =>
        {
            var rows = g.Param("a", [2, 3], 1.3);
            var sum = g.Node("Add", [g.Node("Add", [g.Node("Gather", [rows, g.Ints(0)]), g.Node("Gather", [rows, g.Ints(1)])]), g.Param("p", [1, 3], 0)]);
            return (g.Node("Add", [g.Node("Det", [g.Node("Concat", [rows, sum], Int("axis", 0))]), g.Param("c", [2], 0.5, 1)]), [2]); // the loss's slope at det 0 is not 0
        }, 17),
        ["Det of 1×1 matrices"] = (g => (g.Node("Det", [g.Param("a", [3, 1, 1])]), [3]), 17),
        // ONNX Runtime has Shrink in double but computes it at float precision; Mean only in float.
        ["Shrink λ = bias = 0.5 (Softshrink; continuous)"] = (g => (g.Node("Shrink", [g.Param("a", [3, 4], 1)], F("lambd", 0.5f), F("bias", 0.5f)), [3, 4]), 17),
        ["Mean of three broadcast operands"] = (g => (g.Node("Mean", [g.Param("a", [3, 4]), g.Param("b", [4]), g.Param("c", [3, 1])]), [3, 4]), 17),
        ["LRN size 5 (AlexNet's), behind a Tanh"] = (g => (g.Node("LRN", [g.Node("Tanh", [g.Param("a", [2, 7, 3, 2], 1.5)])], Int("size", 5), F("alpha", 0.3f), F("beta", 0.75f), F("bias", 1.5f)), [2, 7, 3, 2]), 17),
        ["LRN size 3, windows clipped at both channel ends"] = (g => (g.Node("LRN", [g.Param("a", [1, 3, 2, 2])], Int("size", 3), F("alpha", 0.5f), F("beta", 0.6f), F("bias", 2f)), [1, 3, 2, 2]), 17),
        ["Tan, Sinh and Cosh"] = (g => (g.Node("Add", [g.Node("Tan", [g.Param("a", [3, 4], 0.4)]), g.Node("Add", [g.Node("Sinh", [g.Param("b", [3, 4])]), g.Node("Cosh", [g.Param("c", [3, 4])])])]), [3, 4]), 17),
        ["Asin, Acos and Atanh of values in (−1, 1)"] = (g => (g.Node("Add", [g.Node("Asin", [g.Node("Tanh", [g.Param("a", [3, 4])])]),
            g.Node("Add", [g.Node("Acos", [g.Node("Tanh", [g.Param("b", [3, 4])])]), g.Node("Atanh", [g.Node("Tanh", [g.Param("c", [3, 4])])])])]), [3, 4]), 17),
        ["Atan, Asinh and Acosh"] = (g => (g.Node("Add", [g.Node("Atan", [g.Param("a", [3, 4], 2)]), g.Node("Add", [g.Node("Asinh", [g.Param("b", [3, 4], 2)]), g.Node("Acosh", [g.Param("c", [3, 4], 0.3, 2)])])]), [3, 4]), 17),
        ["LpPool p = 2, 2×2 stride 2"] = (g => (g.Node("LpPool", [g.Param("a", [2, 3, 4, 6])], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)), [2, 3, 2, 3]), 17),
        ["LpPool p = 3, 3×3 stride 2, pads 1"] = (g => (g.Node("LpPool", [g.Param("a", [1, 2, 5, 5])], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1), Int("p", 3)), [1, 2, 3, 3]), 17),
        ["LpPool p = 2, 1-D kernel 3, auto_pad SAME_UPPER"] = (g => (g.Node("LpPool", [g.Param("a", [2, 3, 8])], Ints("kernel_shape", 3), S("auto_pad", "SAME_UPPER")), [2, 3, 8]), 17),
        ["LpPool p = 1, 1-D kernel 3"] = (g => (g.Node("LpPool", [g.Param("a", [2, 3, 8], 2)], Ints("kernel_shape", 3), Int("p", 1)), [2, 3, 6]), 17),
        ["GridSample as F.grid_sample exports it (opset 16, bilinear and zeros by default)"] = (g => (g.Node("GridSample", [g.Param("a", [2, 3, 4, 5]), g.Param("grid", [2, 3, 4, 2], 0.7)]), [2, 3, 3, 4]), 16),
        ["GlobalLpPool p = 3"] = (g => (g.Node("GlobalLpPool", [g.Param("a", [2, 3, 4, 2])], Int("p", 3)), [2, 3, 1, 1]), 17),
        ["MaxPool, then MaxUnpool at its indices (SegNet's decoder)"] = (g =>
        {
            var pooled = g.Nodes("MaxPool", [g.Param("a", [1, 2, 4, 6])], 2, Ints("kernel_shape", 2, 2), Ints("strides", 2, 2));
            return (g.Node("MaxUnpool", [g.Node("Tanh", [pooled[0]]), pooled[1]], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)), [1, 2, 4, 6]);
        }, 17),
        ["Mish (opset 18)"] = (g => (g.Node("Mish", [g.Param("a", [3, 4], 2)]), [3, 4]), 18),
        ["Celu, alpha 0.7"] = (g => (g.Node("Celu", [g.Param("a", [3, 4])], F("alpha", 0.7f)), [3, 4]), 17),
        ["ThresholdedRelu, alpha 0.2"] = (g => (g.Node("ThresholdedRelu", [g.Param("a", [3, 4])], F("alpha", 0.2f)), [3, 4]), 17),
        ["Gelu (opset 20)"] = (g => (g.Node("Gelu", [g.Param("a", [3, 4])]), [3, 4]), 20),
        ["GlobalAveragePool"] = (g => (g.Node("GlobalAveragePool", [g.Param("a", [2, 3, 4, 5])]), [2, 3, 1, 1]), 17),
        ["Conv 2-D, stride 2, pads 1"] = (g => (g.Node("Conv", [g.Param("x", [2, 3, 7, 7]), g.Param("w", [4, 3, 3, 3]), g.Param("b", [4])],
            Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1)), [2, 4, 4, 4]), 17),
        // A stride that does not divide the padded extent leaves rows unread: here the end pad, not an input row.
        ["Conv 2-D, stride 2, pads 1, an even input (the end pad is never read)"] = (g => (g.Node("Conv", [g.Node("Tanh", [g.Param("x", [1, 2, 4, 4])]), g.Param("w", [3, 2, 3, 3])],
            Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1)), [1, 3, 2, 2]), 17),
        ["Conv 1-D, stride 3, pads 2 and 1, the last input row never read"] = (g => (g.Node("Conv", [g.Node("Tanh", [g.Param("x", [2, 2, 9])]), g.Param("w", [2, 2, 3])],
            Ints("strides", 3), Ints("pads", 2, 1)), [2, 2, 4]), 17),
        ["Conv 2-D, dilation 2, asymmetric pads"] = (g => (g.Node("Conv", [g.Param("x", [1, 2, 8, 7]), g.Param("w", [3, 2, 3, 2])],
            Ints("dilations", 2, 1), Ints("pads", 0, 1, 1, 0)), [1, 3, 5, 7]), 17),
        ["Conv 2-D, 2 groups, stride 2"] = (g => (g.Node("Conv", [g.Param("x", [2, 4, 7, 7]), g.Param("w", [6, 2, 3, 3]), g.Param("b", [6])],
            Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1), Int("group", 2)), [2, 6, 4, 4]), 17),
        ["Conv 2-D depthwise"] = (g => (g.Node("Conv", [g.Param("x", [2, 3, 6, 6]), g.Param("w", [3, 1, 3, 3])], Int("group", 3), Ints("pads", 1, 1, 1, 1)), [2, 3, 6, 6]), 17),
        ["AveragePool 2x2 stride 2"] = (g => (g.Node("AveragePool", [g.Param("a", [2, 3, 5, 6])], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)), [2, 3, 2, 3]), 17),
        ["AveragePool 3x3, pads, count_include_pad=0"] = (g => (g.Node("AveragePool", [g.Param("a", [1, 2, 5, 5])], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1)), [1, 2, 3, 3]), 17),
        ["AveragePool 2x2 stride 2, auto_pad SAME_UPPER, padding not counted"] = (g => (g.Node("AveragePool", [g.Param("a", [2, 3, 5, 5])], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2), S("auto_pad", "SAME_UPPER")), [2, 3, 3, 3]), 17),
        ["AveragePool 1-D kernel 3 stride 2, auto_pad SAME_LOWER, padding counted"] = (g => (g.Node("AveragePool", [g.Param("a", [2, 3, 8])], Ints("kernel_shape", 3), Ints("strides", 2), S("auto_pad", "SAME_LOWER"), Int("count_include_pad", 1)), [2, 3, 4]), 17),
        ["AveragePool 3x3 stride 1, auto_pad SAME_LOWER, padding not counted"] = (g => (g.Node("AveragePool", [g.Param("a", [1, 2, 4, 5])], Ints("kernel_shape", 3, 3), S("auto_pad", "SAME_LOWER")), [1, 2, 4, 5]), 17),
        ["AveragePool 3x3 stride 2, ceil_mode, a partial last window"] = (g => (g.Node("AveragePool", [g.Param("a", [1, 2, 6, 7])], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Int("ceil_mode", 1)), [1, 2, 3, 3]), 17),
        ["AveragePool 1-D kernel 2 stride 2, ceil_mode, pads"] = (g => (g.Node("AveragePool", [g.Param("a", [2, 3, 8])], Ints("kernel_shape", 2), Ints("strides", 2), Ints("pads", 1, 0), Int("ceil_mode", 1)), [2, 3, 5]), 17),
        ["AveragePool 3x3 stride 2, pads 1, an even input (the end pad is never read)"] = (g => (g.Node("AveragePool", [g.Param("a", [1, 2, 4, 4])], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1)), [1, 2, 2, 2]), 17),
        ["AveragePool 1-D kernel 3 stride 2, pads 1, an even input, padding counted"] = (g => (g.Node("AveragePool", [g.Param("a", [2, 3, 6])], Ints("kernel_shape", 3), Ints("strides", 2), Ints("pads", 1, 1), Int("count_include_pad", 1)), [2, 3, 3]), 17),
        ["AveragePool 3x3 stride 2, ceil_mode, pads 1, padding counted (not past the pads)"] = (g => (g.Node("AveragePool", [g.Param("a", [1, 2, 6, 7])], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1), Int("ceil_mode", 1), Int("count_include_pad", 1)), [1, 2, 4, 4]), 17),
        ["AveragePool 1-D kernel 2 stride 2, ceil_mode, no pads, padding counted"] = (g => (g.Node("AveragePool", [g.Param("a", [2, 3, 7])], Ints("kernel_shape", 2), Ints("strides", 2), Int("ceil_mode", 1), Int("count_include_pad", 1)), [2, 3, 4]), 17),
        ["AveragePool 1-D, pads, count_include_pad=1"] = (g => (g.Node("AveragePool", [g.Param("a", [2, 3, 7])], Ints("kernel_shape", 3), Ints("pads", 1, 1), Int("count_include_pad", 1)), [2, 3, 7]), 17),
        ["Elu"] = (g => (g.Node("Elu", [g.Param("a", [3, 4])], F("alpha", 0.7f)), [3, 4]), 17),
        ["Selu"] = (g => (g.Node("Selu", [g.Param("a", [3, 4])]), [3, 4]), 17),
        ["Softplus"] = (g => (g.Node("Softplus", [g.Param("a", [3, 4])]), [3, 4]), 17),
        ["Softsign"] = (g => (g.Node("Softsign", [g.Param("a", [3, 4])]), [3, 4]), 17),
        ["HardSigmoid"] = (g => (g.Node("HardSigmoid", [g.Param("a", [3, 4], 3)], F("alpha", 0.3f), F("beta", 0.4f)), [3, 4]), 17),
        ["HardSwish"] = (g => (g.Node("HardSwish", [g.Param("a", [4, 5], 3)]), [4, 5]), 17),
        ["GlobalMaxPool"] = (g => (g.Node("GlobalMaxPool", [g.Param("a", [2, 3, 2, 2])]), [2, 3, 1, 1]), 17),
        ["Resize nearest ×2 (as nn.Upsample exports it), behind a Tanh"] = (g => (g.Node("Resize", [g.Node("Tanh", [g.Param("a", [1, 2, 3, 2])]), "", g.Floats(1, 1, 2, 2)],
            S("mode", "nearest"), S("coordinate_transformation_mode", "asymmetric"), S("nearest_mode", "floor")), [1, 2, 6, 4]), 17),
        ["Resize nearest ×3 on one axis, ONNX's default coordinates"] = (g => (g.Node("Resize", [g.Param("a", [2, 2, 3]), "", g.Floats(1, 1, 3)], S("mode", "nearest")), [2, 2, 9]), 17),
        // Every other Resize: dY times each resized axis's interpolation matrix transposed (ResizeInterpolation).
        ["Resize linear ×2, pytorch_half_pixel, behind a Tanh"] = (g => (g.Node("Resize", [g.Node("Tanh", [g.Param("a", [1, 2, 3, 4])]), "", g.Floats(1, 1, 2, 2)],
            S("mode", "linear"), S("coordinate_transformation_mode", "pytorch_half_pixel")), [1, 2, 6, 8]), 17),
        ["Resize linear ×1.5, align_corners"] = (g => (g.Node("Resize", [g.Param("a", [1, 2, 4, 4]), "", g.Floats(1, 1, 1.5f, 1.5f)],
            S("mode", "linear"), S("coordinate_transformation_mode", "align_corners")), [1, 2, 6, 6]), 17),
        ["Resize linear down to sizes 3×5 from 5×7, asymmetric"] = (g => (g.Node("Resize", [g.Param("a", [2, 2, 5, 7]), "", "", g.Ints(2, 2, 3, 5)],
            S("mode", "linear"), S("coordinate_transformation_mode", "asymmetric")), [2, 2, 3, 5]), 17),
        ["Resize linear ×1.7, half_pixel_symmetric (opset 19)"] = (g => (g.Node("Resize", [g.Param("a", [1, 1, 4, 5]), "", g.Floats(1, 1, 1.7f, 1.7f)],
            S("mode", "linear"), S("coordinate_transformation_mode", "half_pixel_symmetric")), [1, 1, 6, 8]), 19),
        ["Resize cubic ×2, align_corners (bicubic)"] = (g => (g.Node("Resize", [g.Node("Tanh", [g.Param("a", [1, 2, 3, 3])]), "", g.Floats(1, 1, 2, 2)],
            S("mode", "cubic"), S("coordinate_transformation_mode", "align_corners")), [1, 2, 6, 6]), 17),
        ["Resize cubic ×2.5 on one axis, half_pixel, exclude_outside, a = -0.5"] = (g => (g.Node("Resize", [g.Param("a", [1, 1, 4, 3]), "", g.Floats(1, 1, 2.5f, 1)],
            S("mode", "cubic"), F("cubic_coeff_a", -0.5f), Int("exclude_outside", 1)), [1, 1, 10, 3]), 17),
        ["Resize linear, scales computed at run time"] = (g => (g.Node("Resize", [g.Param("a", [1, 2, 3, 4]), "", g.Node("Concat", [g.Floats(1, 1), g.Node("Add", [g.Floats(1, 0.5f), g.Floats(1, 1)])], Int("axis", 0))],
            S("mode", "linear")), [1, 2, 6, 6]), 17),
        ["Resize nearest ×1.5, round_prefer_ceil"] = (g => (g.Node("Resize", [g.Param("a", [1, 2, 4, 4]), "", g.Floats(1, 1, 1.5f, 1.5f)],
            S("mode", "nearest"), S("nearest_mode", "round_prefer_ceil")), [1, 2, 6, 6]), 17),
        ["Resize nearest down to sizes, ceil, asymmetric"] = (g => (g.Node("Resize", [g.Param("a", [1, 2, 7, 5]), "", "", g.Ints(1, 2, 3, 2)],
            S("mode", "nearest"), S("coordinate_transformation_mode", "asymmetric"), S("nearest_mode", "ceil")), [1, 2, 3, 2]), 17),
        ["InstanceNormalization"] = (g => (g.Node("InstanceNormalization", [g.Node("Mul", [g.Input("x", [2, 3, 4, 3]), g.Param("k", [1, 3, 1, 1], 0.3, 1)]), g.Param("s", [3], 0.3, 1), g.Param("b", [3])], F("epsilon", 1e-3f)), [2, 3, 4, 3]), 17),
        ["ConvTranspose 2-D, stride 2, pads, output_padding"] = (g => (g.Node("ConvTranspose", [g.Param("x", [2, 3, 4, 4]), g.Param("w", [3, 2, 3, 3]), g.Param("b", [2])],
            Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1), Ints("output_padding", 1, 1)), [2, 2, 8, 8]), 17),
        ["ConvTranspose 1-D, 2 groups, dilation 2, behind a Tanh"] = (g => (g.Node("ConvTranspose", [g.Node("Tanh", [g.Param("x", [1, 4, 5])]), g.Param("w", [4, 3, 3])],
            Ints("dilations", 2), Int("group", 2)), [1, 6, 9]), 17),
        ["Conv 1-D, stride 2"] = (g => (g.Node("Conv", [g.Param("x", [2, 3, 10]), g.Param("w", [4, 3, 3]), g.Param("b", [4])], Ints("strides", 2)), [2, 4, 4]), 17),
        // auto_pad SAME (what TensorFlow's exporters write): the padding follows the input's size; odd totals put the extra zero after (UPPER) or before (LOWER).
        ["Conv 2-D, auto_pad SAME_UPPER, stride 2, uneven"] = (g => (g.Node("Conv", [g.Param("x", [2, 3, 7, 6]), g.Param("w", [4, 3, 3, 3]), g.Param("b", [4])],
            Ints("strides", 2, 2), S("auto_pad", "SAME_UPPER")), [2, 4, 4, 3]), 17),
        ["Conv 2-D, auto_pad SAME_LOWER, 2 groups, even kernel"] = (g => (g.Node("Conv", [g.Param("x", [1, 4, 5, 5]), g.Param("w", [4, 2, 2, 2])],
            Int("group", 2), S("auto_pad", "SAME_LOWER")), [1, 4, 5, 5]), 17),
        ["Conv 1-D, auto_pad SAME_LOWER, stride 3, even kernel, behind a Tanh"] = (g => (g.Node("Conv", [g.Node("Tanh", [g.Param("x", [2, 3, 10])]), g.Param("w", [4, 3, 4])],
            Ints("strides", 3), S("auto_pad", "SAME_LOWER")), [2, 4, 4]), 17),
    };

    public static TheoryData<string> Names => [.. Cases.Keys, .. RecurrentCases.All.Keys];

    public static TheoryData<string> FloatNames => [.. FloatCases.Keys];

    [Theory]
    [MemberData(nameof(Names))]
    public void Gradient_MatchesFiniteDifferences_InDouble(string name)
    {
        var (build, opset) = Cases.TryGetValue(name, out var single) ? single : (RecurrentCases.All[name], 17); // recurrent nodes train unrolled
        var error = RelativeError(build, opset, DataType.Double, h: 1e-6);
        Assert.True(error < 1e-6, $"{name}: relative gradient error {error:E2}");
    }

    [Theory]
    [MemberData(nameof(FloatNames))]
    public void Gradient_MatchesFiniteDifferences_InFloat(string name)
    {
        var (build, opset) = FloatCases[name];
        var error = RelativeError(build, opset, DataType.Float, h: 1e-2);
        // Float rounding of a loss near 1 is ~1e-7, so differences at step 1e-2 carry ~1e-5 of noise and O(h²) of curvature.
        Assert.True(error < 2e-3, $"{name}: relative gradient error {error:E2}");
    }

    /// <summary>
    /// Images of any size: the interpolation matrices are built from the extents at run time, so a model declaring its
    /// height and width as symbols trains, and its gradient is the one the same model with fixed sizes computes.
    /// </summary>
    [Theory]
    [InlineData("linear", "half_pixel")]
    [InlineData("cubic", "align_corners")]
    [InlineData("nearest", "asymmetric")]
    public void AResizeOfAnImageOfUnknownSize_Trains_AsTheSameResizeOfAFixedSizeDoes(string mode, string coordinates)
    {
        double[] Gradient(bool symbolic)
        {
            var g = new TestGraph(DataType.Float, 17); // ONNX Runtime resizes in float only
            var image = g.Input("x", [2, 3, 5, 4]);
            var resized = g.Node("Resize", [g.Node("Mul", [image, g.Param("k", [1, 3, 1, 1])]), "", g.Floats(1, 1, 1.5f, 2)], S("mode", mode), S("coordinate_transformation_mode", coordinates));
            var model = g.Model(g.Node("Conv", [resized, g.Param("w", [2, 3, 3, 3])]), 4);
            if (symbolic) foreach (var (axis, name) in new[] { (2, "height"), (3, "width") }) model.Graph.Input[0].Type.TensorType.Shape.Dim[axis].DimParam = name;
            var feeds = new Dictionary<string, Feed>(g.Feeds) { ["labels"] = new Feed([2, 2, 5, 6], [.. Enumerable.Range(0, 120).Select(i => Math.Sin(i))]) };
            using var probe = new GradientProbe(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError));
            var error = probe.RelativeError(feeds, 1e-2);
            Assert.True(error < 2e-3, $"{mode} {coordinates}, symbolic {symbolic}: relative gradient error {error:E2}");
            return [.. probe.Gradient(feeds).Gradients.OrderBy(p => p.Key, StringComparer.Ordinal).SelectMany(p => p.Value)];
        }

        var (fixedSize, anySize) = (Gradient(symbolic: false), Gradient(symbolic: true));
        Assert.Equal(fixedSize.Length, anySize.Length);
        Assert.All(fixedSize.Zip(anySize), p => Assert.True(Math.Abs(p.First - p.Second) <= 1e-5 * (1 + Math.Abs(p.First)), $"{p.First} against {p.Second}"));
    }

    /// <summary>
    /// PyTorch's classifier reading the determinants of four 3×3 matrices it computes per scan (<c>export_digit_determinants.py</c>:
    /// <c>torch.det</c>, exported as Det): served as PyTorch computes it, and one step moves every tensor — the ones
    /// before the Det by its cofactors — along PyTorch's gradient.
    /// </summary>
    [Fact]
    public void APyTorchModelReadingDeterminants_StepsAsPyTorchsGradient()
    {
        static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_determinants.onnx"));
        var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture("digit_determinants_expected.json"))).RootElement;
        var model = EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(bytes, new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("all"));
        Assert.Contains(ModelProto.Parser.ParseFrom(bytes).Graph.Node, n => n.OpType == "Det");
        Assert.Equal(["head.bias", "head.weight", "shape.bias", "shape.weight", "trunk.bias", "trunk.weight"], model.Spec.Graph!.Trained.Select(t => t.Name).Order(StringComparer.Ordinal));
        using var served = InferenceModel.Load(bytes, model.Spec);
        using var trainer = new TrainStepModel(model.TrainStep!, model.Spec);
        PyTorchBatch.AssertServedAndStepped(model, served, trainer, expected, "the determinants");
    }

    /// <summary>An Einsum whose gradient is not one Einsum per operand is refused naming the node and the reason.</summary>
    [Fact]
    public void AnEinsumWithADiagonal_OrEllipsesOfDifferentLengths_IsRefusedNamingWhy()
    {
        string Refusal(string equation, long[] a, long[] b, int rank)
        {
            var g = new TestGraph(DataType.Double);
            var model = g.Model(g.Node("Einsum", [g.Param("a", a), g.Param("b", b)], S("equation", equation)), rank);
            return Assert.Throws<NotDifferentiableException>(() => TrainStepGenerator.Generate(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError))).Message;
        }

        var diagonal = Refusal("iij,j->i", [3, 3, 4], [4], 1);
        Assert.Contains("(Einsum)", diagonal, StringComparison.Ordinal);
        Assert.Contains("operand 0 repeats a subscript in 'iij'", diagonal, StringComparison.Ordinal);
        Assert.Contains("cover different numbers of axes", Refusal("...ij,...jk->...ik", [2, 5, 3, 4], [5, 4, 2], 4), StringComparison.Ordinal);
        Assert.Contains("is summed away", Refusal("...ij,...jk->ik", [2, 3, 4], [2, 4, 5], 2), StringComparison.Ordinal);
    }

    /// <summary>A Resize the matrices cannot be built for is refused naming the node and the reason.</summary>
    [Fact]
    public void AResizeWithUnsupportedSettings_IsRefusedNamingTheNodeAndWhy()
    {
        string Refusal(Action<ModelProto>? change, params AttributeProto[] attributes)
        {
            var g = new TestGraph(DataType.Float, 19);
            var scaled = g.Node("Mul", [g.Input("x", [1, 2, 4, 4]), g.Param("k", [1])]); // a trained parameter reaches the Resize
            var model = g.Model(g.Node("Resize", [scaled, "", g.Floats(1, 1, 2, 2)], [S("mode", "linear"), .. attributes]), 4);
            change?.Invoke(model);
            return Assert.Throws<NotDifferentiableException>(() => TrainStepGenerator.Generate(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError))).Message;
        }

        Assert.Contains("(Resize)", Refusal(null, Int("antialias", 1)), StringComparison.Ordinal);
        Assert.Contains("coordinate_transformation_mode 'tf_crop_and_resize'", Refusal(null, S("coordinate_transformation_mode", "tf_crop_and_resize")), StringComparison.Ordinal);
        Assert.Contains("antialias", Refusal(null, Int("antialias", 1)), StringComparison.Ordinal);
        Assert.Contains("Resize mode 'bilinear' is not nearest, linear or cubic", Refusal(m => m.Graph.Node.Single(n => n.OpType == "Resize").Attribute[0].S = Google.Protobuf.ByteString.CopyFromUtf8("bilinear")), StringComparison.Ordinal);
    }

    private static double RelativeError(Build build, int opset, DataType type, double h)
    {
        var g = new TestGraph(type, opset);
        var (output, dims) = build(g);
        var model = g.Model(output, dims.Length);
        var feeds = new Dictionary<string, Feed>(g.Feeds) { ["labels"] = new Feed(dims, Enumerable.Range(0, (int)dims.Aggregate(1L, (a, b) => a * b)).Select(i => Math.Sin(i)).ToArray()) };
        using var probe = new GradientProbe(model, new TrainStepOptions("y", TrainingLoss.MeanSquaredError));
        Assert.NotEmpty(probe.Step.Trained);
        return probe.RelativeError(feeds, h);
    }

    private static AttributeProto S(string name, string value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(value) };

    private static AttributeProto F(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };
}
