namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>The loss a generated train step minimises, averaged over the batch.</summary>
public enum TrainingLoss
{
    /// <summary>Softmax cross-entropy on class scores [batch, classes] against int64 labels [batch]. If the output is made by a Softmax or LogSoftmax node, the loss is taken on that node's input (the logits), which is the numerically stable form.</summary>
    SoftmaxCrossEntropy,

    /// <summary>Binary cross-entropy on one score per element against float labels in [0, 1] of the same shape; on a Sigmoid node's input when the output is made by one.</summary>
    BinaryCrossEntropy,

    /// <summary>Mean squared error against float targets of the output's shape.</summary>
    MeanSquaredError,
}

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

    /// <summary>Name of the labels input the train step adds.</summary>
    public string LabelsInput { get; init; } = ClassifierGraphs.LabelsInput;

    /// <summary>Lowest default-domain opset accepted: the gradient ops take their axes as inputs from 13 on.</summary>
    public const int MinimumOpset = 13;
}
