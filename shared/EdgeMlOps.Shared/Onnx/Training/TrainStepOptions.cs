namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>The loss a generated train step minimises, averaged over the batch.</summary>
public enum TrainingLoss
{
    /// <summary>Softmax cross-entropy on class scores [batch, classes] against int64 labels [batch] — or per position on [batch, classes, d1, …] against labels [batch, d1, …], averaged over positions as PyTorch's CrossEntropyLoss does. If the output is made by a Softmax or LogSoftmax node (over the class axis), the loss is taken on that node's input (the logits), which is the numerically stable form.</summary>
    SoftmaxCrossEntropy,

    /// <summary>Binary cross-entropy on one score per element against float labels in [0, 1] of the same shape; on a Sigmoid node's input when the output is made by one.</summary>
    BinaryCrossEntropy,

    /// <summary>Mean squared error against float targets of the output's shape.</summary>
    MeanSquaredError,
}

/// <summary>The optimizer a device runs; its state (velocity, or Adam's moments) starts at zero every round.</summary>
public enum DeviceOptimizer
{
    /// <summary>w ← w − η·g.</summary>
    Sgd,

    /// <summary>Heavy-ball momentum as PyTorch writes it: b ← β·b + g, w ← w − η·b; state <c>{name}.velocity</c>.</summary>
    Momentum,

    /// <summary>Adam (Kingma and Ba 2015) with bias correction; state <c>{name}.m</c>, <c>{name}.v</c>, and the 1-based step count input <c>optimizer_step</c>.</summary>
    Adam,
}

/// <summary>The text forms operators type for <see cref="DeviceOptimizer"/> and <see cref="TrainingLoss"/>.</summary>
public static class TrainingNames
{
    public const string Optimizers = "sgd, momentum or adam";

    public const string Losses = "softmax-ce, binary-ce or mse";

    public static DeviceOptimizer? Optimizer(string text) => text switch
    {
        "sgd" => DeviceOptimizer.Sgd,
        "momentum" => DeviceOptimizer.Momentum,
        "adam" => DeviceOptimizer.Adam,
        _ => null,
    };

    public static TrainingLoss? Loss(string text) => text switch
    {
        "softmax-ce" => TrainingLoss.SoftmaxCrossEntropy,
        "binary-ce" => TrainingLoss.BinaryCrossEntropy,
        "mse" => TrainingLoss.MeanSquaredError,
        _ => null,
    };
}

/// <summary>One output of a multi-task train step: softmax cross-entropy on a class id, binary cross-entropy on 0/1 labels, or mean squared error on its values (<paramref name="Kind"/>); its weight in the summed loss.</summary>
public sealed record TrainingTask(string Output, Models.ModelTaskKind Kind, float Weight = 1f);

/// <summary>
/// What a generated train step trains: the model output the loss is taken on, the loss, and which initializers are
/// parameters (the rest stay frozen constants in the graph and are evaluated forward only).
/// </summary>
/// <param name="Output">The graph output the loss is taken on.</param>
/// <param name="Loss">The loss.</param>
public sealed record TrainStepOptions(string Output, TrainingLoss Loss)
{
    /// <summary>Initializer names to train; null trains every floating-point initializer the loss depends on.</summary>
    public IReadOnlyCollection<string>? Trainable { get; init; }

    /// <summary>
    /// For <see cref="TrainingLoss.BinaryCrossEntropy"/> on a [batch, 1] score: the labels input is int64 class ids
    /// [batch] (0 or 1), as devices keep ground truth, instead of floats shaped like the output.
    /// </summary>
    public bool ClassIdLabels { get; init; }

    /// <summary>
    /// For <see cref="TrainingLoss.SoftmaxCrossEntropy"/>: the labels input is float class ids (whole numbers, cast to
    /// int64 in the step), as devices keep a per-position classifier's ground truth beside regressors' targets.
    /// </summary>
    public bool FloatClassIds { get; init; }

    /// <summary>For <see cref="TrainingLoss.SoftmaxCrossEntropy"/> per position: the classes are the output's last axis ([batch, positions…, classes]), not axis 1.</summary>
    public bool ClassAxisLast { get; init; }

    /// <summary>
    /// A multi-task step: the losses of several outputs at once, summed with their weights (<see cref="Output"/> and
    /// <see cref="Loss"/> are the first task's). The labels input is then float [batch, Σ widths]: each task's ground
    /// truth in order — a class id for a classifier task (softmax cross-entropy on its [batch, classes] scores), the
    /// output's values row-major for a regression task (mean squared error). Empty: one output.
    /// </summary>
    public IReadOnlyList<TrainingTask> Tasks { get; init; } = [];

    /// <summary>Name of the labels input the train step adds.</summary>
    public string LabelsInput { get; init; } = ClassifierGraphs.LabelsInput;

    /// <summary>
    /// How many iterations to unroll a loop that only the data ends (a <c>while</c> whose condition reads the values it
    /// computes, no trip count bounding it), 1 to <see cref="ControlFlowInlining.MaxIterations"/>; each iteration past
    /// the data's end is masked, and a batch that would run longer sets <see cref="ClassifierGraphs.LoopOverflowOutput"/>,
    /// which the device refuses to step on. Null: such a loop is refused.
    /// </summary>
    public int? MaxLoopTrips { get; init; }

    /// <summary>The largest <see cref="MaxLoopTrips"/>: as many iterations as any loop is unrolled into.</summary>
    public const int MaxLoopTripsLimit = ControlFlowInlining.MaxIterations;

    /// <summary>The device optimizer (SGD by default).</summary>
    public DeviceOptimizer Optimizer { get; init; } = DeviceOptimizer.Sgd;

    /// <summary>Momentum β.</summary>
    public float Momentum { get; init; } = 0.9f;

    /// <summary>Adam's β₁, β₂ and ε, the same in every generated train step: a device that takes Adam's step itself (a file whose batch is fixed at 1) uses them too.</summary>
    public static readonly (float Beta1, float Beta2, float Epsilon) Adam = (0.9f, 0.999f, 1e-8f);

    /// <summary>The state tensors an optimizer keeps per parameter (suffixes of <c>{name}.</c>).</summary>
    public static IReadOnlyList<string> StateSuffixes(DeviceOptimizer optimizer) => optimizer switch
    {
        DeviceOptimizer.Momentum => ["velocity"],
        DeviceOptimizer.Adam => ["m", "v"],
        _ => [],
    };

    /// <summary>The input holding optimizer state <paramref name="suffix"/> of parameter <paramref name="name"/> (its output is <c>{that}.new</c>).</summary>
    public static string StateName(string name, string suffix) => $"{name}.{suffix}";

    /// <summary>Adam's 1-based step count, a scalar input.</summary>
    public const string OptimizerStepInput = "optimizer_step";

    /// <summary>Lowest default-domain opset accepted: the gradient ops take their axes as inputs from 13 on.</summary>
    public const int MinimumOpset = 13;
}
