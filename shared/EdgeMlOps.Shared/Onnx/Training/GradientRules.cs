namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>The op set a train step can be generated through (default ONNX domain), one backward rule per op.</summary>
internal static class GradientRules
{
    private static readonly Dictionary<string, Action<GradientContext>> Rules = new(StringComparer.Ordinal)
    {
        ["Add"] = ElementwiseGradients.Add,
        ["Sub"] = ElementwiseGradients.Sub,
        ["Mul"] = ElementwiseGradients.Mul,
        ["Div"] = ElementwiseGradients.Div,
        ["Pow"] = ElementwiseGradients.Pow,
        ["Neg"] = ElementwiseGradients.Neg,
        ["Exp"] = ElementwiseGradients.Exp,
        ["Log"] = ElementwiseGradients.Log,
        ["Sqrt"] = ElementwiseGradients.Sqrt,
        ["Relu"] = ElementwiseGradients.Relu,
        ["LeakyRelu"] = ElementwiseGradients.LeakyRelu,
        ["Sigmoid"] = ElementwiseGradients.Sigmoid,
        ["Tanh"] = ElementwiseGradients.Tanh,
        ["Erf"] = ElementwiseGradients.Erf,
        ["Gelu"] = ElementwiseGradients.Gelu,
        ["Clip"] = ElementwiseGradients.Clip,
        ["Softmax"] = ElementwiseGradients.Softmax,
        ["LogSoftmax"] = ElementwiseGradients.LogSoftmax,
        ["Identity"] = ElementwiseGradients.PassThrough,
        ["Dropout"] = ElementwiseGradients.Dropout,
        ["Gemm"] = LinearGradients.Gemm,
        ["MatMul"] = LinearGradients.MatMul,
        ["Conv"] = LinearGradients.Conv,
        ["MaxPool"] = NormalizationGradients.MaxPool,
        ["GlobalAveragePool"] = NormalizationGradients.GlobalAveragePool,
        ["AveragePool"] = NormalizationGradients.AveragePool,
        ["BatchNormalization"] = NormalizationGradients.BatchNormalization,
        ["LayerNormalization"] = NormalizationGradients.LayerNormalization,
        ["InstanceNormalization"] = NormalizationGradients.InstanceNormalization,
        ["Reshape"] = ShapeGradients.Reshape,
        ["Flatten"] = ShapeGradients.Reshape,
        ["Squeeze"] = ShapeGradients.Reshape,
        ["Unsqueeze"] = ShapeGradients.Reshape,
        ["Transpose"] = ShapeGradients.Transpose,
        ["Concat"] = ShapeGradients.Concat,
        ["Gather"] = ShapeGradients.Gather,
        ["Slice"] = ShapeGradients.Slice,
        ["ReduceSum"] = ShapeGradients.Reduce,
        ["ReduceMean"] = ShapeGradients.Reduce,
        ["ReduceMax"] = ShapeGradients.ReduceExtreme,
        ["ReduceMin"] = ShapeGradients.ReduceExtreme,
        ["GlobalMaxPool"] = ShapeGradients.ReduceExtreme,
        ["Expand"] = ShapeGradients.Expand,
        ["Resize"] = ShapeGradients.Resize,
        ["Split"] = ShapeGradients.Split,
        ["Pad"] = ShapeGradients.Pad,
        ["Sum"] = ElementwiseGradients.Sum,
        ["Max"] = ElementwiseGradients.Extreme,
        ["Min"] = ElementwiseGradients.Extreme,
        ["Where"] = ElementwiseGradients.Where,
        ["Cast"] = ElementwiseGradients.Cast,
        ["CastLike"] = ElementwiseGradients.CastLike,
        ["Abs"] = ActivationGradients.Abs,
        ["PRelu"] = ActivationGradients.PRelu,
        ["Elu"] = ActivationGradients.Elu,
        ["Selu"] = ActivationGradients.Selu,
        ["Softplus"] = ActivationGradients.Softplus,
        ["Softsign"] = ActivationGradients.Softsign,
        ["HardSigmoid"] = ActivationGradients.HardSigmoid,
        ["HardSwish"] = ActivationGradients.HardSwish,
        ["ConvTranspose"] = LinearGradients.ConvTranspose,
        ["Sin"] = TrigonometricGradients.Sin,
        ["Cos"] = TrigonometricGradients.Cos,
        ["Tan"] = TrigonometricGradients.Tan,
        ["Sinh"] = TrigonometricGradients.Sinh,
        ["Cosh"] = TrigonometricGradients.Cosh,
        ["Asin"] = TrigonometricGradients.Asin,
        ["Acos"] = TrigonometricGradients.Acos,
        ["Atan"] = TrigonometricGradients.Atan,
        ["Asinh"] = TrigonometricGradients.Asinh,
        ["Acosh"] = TrigonometricGradients.Acosh,
        ["Atanh"] = TrigonometricGradients.Atanh,
        ["Reciprocal"] = ActivationGradients.Reciprocal,
        ["Mish"] = ActivationGradients.Mish,
        ["Celu"] = ActivationGradients.Celu,
        ["ThresholdedRelu"] = ActivationGradients.ThresholdedRelu,
        ["ReduceSumSquare"] = ReductionGradients.SumSquare,
        ["ReduceL1"] = ReductionGradients.L1,
        ["ReduceL2"] = ReductionGradients.L2,
        ["ReduceLogSumExp"] = ReductionGradients.LogSumExp,
        ["LpNormalization"] = ReductionGradients.LpNormalization,
        ["CumSum"] = ReductionGradients.CumSum,
        ["TopK"] = IndexingGradients.TopK,
        ["GatherElements"] = IndexingGradients.GatherElements,
        ["DepthToSpace"] = LayoutGradients.DepthToSpace,
        ["SpaceToDepth"] = LayoutGradients.SpaceToDepth,
        ["Tile"] = LayoutGradients.Tile,
        ["Einsum"] = EinsumGradient.Einsum,
        ["ScatterND"] = IndexingGradients.Scatter,
        ["ScatterElements"] = IndexingGradients.Scatter,
        ["Trilu"] = ActivationGradients.Trilu,
        ["Shrink"] = ActivationGradients.Shrink,
        ["Mean"] = ElementwiseGradients.Mean,
        ["LRN"] = LocalResponseGradient.Lrn,
        ["ReduceProd"] = ReductionGradients.Prod,
        ["Mod"] = ElementwiseGradients.Mod,
        ["LpPool"] = PoolingGradients.LpPool,
        ["GlobalLpPool"] = PoolingGradients.GlobalLpPool,
        ["MaxUnpool"] = PoolingGradients.MaxUnpool,
        ["Compress"] = IndexingGradients.Compress,
        ["ReverseSequence"] = IndexingGradients.ReverseSequence,
        ["GridSample"] = GridSampleGradient.GridSample,
        ["GatherND"] = IndexingGradients.GatherND,
        ["ReduceLogSum"] = ReductionGradients.LogSum,
        ["Det"] = DeterminantGradient.Det,
    };

    /// <summary>Ops whose outputs never carry a gradient (indices, shapes, comparisons, constants).</summary>
    private static readonly HashSet<string> Constant = new(StringComparer.Ordinal)
    {
        "Shape", "Size", "ArgMax", "ArgMin", "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Not", "And", "Or",
        "NonZero", "ConstantOfShape", "Range", "Floor", "Ceil", "Round", "Sign", "OneHot", "Constant",
        "Hardmax", "IsNaN", "IsInf", "Xor", "EyeLike", "RandomNormalLike", "RandomUniformLike", "Bernoulli", "Multinomial",
    };

    /// <summary>The ops with a gradient rule, for documentation and refusals.</summary>
    public static IEnumerable<string> Supported => Rules.Keys.Order(StringComparer.Ordinal);

    public static bool TryGet(string opType, out Action<GradientContext> rule) => Rules.TryGetValue(opType, out rule!);

    /// <summary>Whether an op's outputs are constant with respect to its inputs (no gradient flows through it).</summary>
    public static bool IsConstant(string opType) => Constant.Contains(opType);

    /// <summary>Which inputs of an op can carry a gradient; the rest (shapes, indices, statistics) never do.</summary>
    public static bool IsDifferentiableInput(string opType, int index) => opType switch
    {
        "Reshape" or "Squeeze" or "Unsqueeze" or "Gather" or "Slice" or "ReduceSum" or "ReduceMean" or "ReduceMax" or "ReduceMin" or "Pow" or "Clip" or "Dropout"
            or "Expand" or "Split" or "Pad" or "Cast" or "Resize" or "ReduceSumSquare" or "ReduceL1" or "ReduceL2" or "ReduceLogSumExp" or "CumSum"
            or "TopK" or "GatherElements" or "GatherND" or "ReduceLogSum" or "CastLike" or "Tile" or "Trilu" or "ReduceProd" or "MaxUnpool" or "Compress" or "ReverseSequence" => index == 0,
        "ScatterND" or "ScatterElements" => index is 0 or 2,
        "Where" => index is 1 or 2,
        "BatchNormalization" => index <= 2,
        _ => !IsConstant(opType),
    };
}
