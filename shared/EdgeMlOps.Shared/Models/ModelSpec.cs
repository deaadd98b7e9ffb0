namespace EdgeMlOps.Shared.Models;

/// <summary>
/// Architecture of a classifier over <see cref="InputDim"/> floats and <see cref="Classes"/> classes: either a dense
/// network the fleet generates (ReLU hidden layers of the given sizes; none is multinomial logistic regression), or an
/// uploaded ONNX graph served as it is, described by its <see cref="Graph"/> interface.
/// </summary>
public sealed record ModelSpec
{
    public ModelSpec(int inputDim, IReadOnlyList<int> hidden, int classes)
    {
        var errors = new List<string>();
        if (inputDim <= 0) errors.Add($"inputDim must be positive, was {inputDim}");
        if (classes < 2) errors.Add($"classes must be at least 2, was {classes}");
        for (var i = 0; i < hidden.Count; i++)
        {
            if (hidden[i] <= 0) errors.Add($"hidden[{i}] must be positive, was {hidden[i]}");
        }

        if (errors.Count > 0) throw new ArgumentException("Invalid model spec: " + string.Join("; ", errors));
        InputDim = inputDim;
        Hidden = hidden.ToArray();
        Classes = classes;
    }

    private ModelSpec(GraphInterface graph, int classes)
        : this(graph.SampleLength, [], classes)
    {
        CheckValuesDims(graph);
        Graph = graph;
    }

    /// <summary>A regressor's output axes multiply to its values, a per-position classifier's are its positions; nothing else declares any.</summary>
    private static void CheckValuesDims(GraphInterface graph)
    {
        if (graph.Varying is { } varying)
        {
            if (!graph.AxisLengths.Contains((varying.Name, varying.Longest)))
                throw new ArgumentException($"Invalid model spec: samples vary along '{varying.Name}', which is not pinned at their longest, {varying.Longest}");
        }

        if (graph.ClassAxisLast && graph.PositionClasses == 0) throw new ArgumentException("Invalid model spec: only a per-position classifier has its classes on the last axis");
        if (graph.PositionClasses > 0)
        {
            if (graph.Positions == 0) throw new ArgumentException($"Invalid model spec: a per-position classifier classes 1 to {GraphInterface.MaxPositions} positions, not [{string.Join(", ", graph.ValuesDims)}]");
            if ((long)graph.Positions * graph.PositionClasses > GraphInterface.MaxPositionScores)
                throw new ArgumentException($"Invalid model spec: {graph.PositionClasses} classes at {graph.Positions} positions are over {GraphInterface.MaxPositionScores} class scores per row");
            return;
        }

        if (graph.ValuesDims.Count > 0 && (graph.RegressionTargets == 0 || graph.ValuesDims.Aggregate(1L, (a, d) => a * d) != graph.RegressionTargets))
            throw new ArgumentException($"Invalid model spec: values dims [{string.Join(", ", graph.ValuesDims)}] are a regressor's {graph.RegressionTargets} values");
    }

    /// <summary>A regressor or multi-label classifier: samples of the graph's sample dims, no classes (0), <see cref="GraphInterface.TargetWidth"/> floats of ground truth per row.</summary>
    private ModelSpec(GraphInterface graph, bool targets)
    {
        CheckValuesDims(graph);
        if (!targets || graph.TargetWidth <= 0 || graph.Tensors is not null) throw new ArgumentException("Invalid model spec: a regressor's or multi-label classifier's interface declares its targets or labels");
        Graph = graph;
        InputDim = graph.SampleLength;
        Hidden = [];
    }

    /// <summary>A model served by tensor names: no features, no classes (both 0), nothing trained.</summary>
    private ModelSpec(GraphInterface tensors)
    {
        Graph = tensors;
        Hidden = [];
    }

    /// <summary>The uploaded graph's interface, or null for a generated dense classifier.</summary>
    public GraphInterface? Graph { get; }

    /// <summary>False for an uploaded graph the fleet only serves (no trained tensors, no train step, no rounds).</summary>
    public bool Trainable => Graph is null || Graph.Trained.Count > 0;

    /// <summary>The preprocessing graph in front of the model (a classifier's or a tensor model's), or null.</summary>
    public TensorPreprocess? Preprocess => Graph?.Tensors?.Preprocess ?? Graph?.Preprocess;

    /// <summary>
    /// Values monitoring sketches per prediction: a tensor model's declared outputs and embedding, the features a
    /// classifier's front end makes (what the model sees), else the classifier's inputs — for features or samples of
    /// several lengths, their mean over the varying axis (<see cref="GraphInterface.ModelLengths"/>).
    /// </summary>
    public int MonitoredWidth => Graph?.Tensors?.MonitoredWidth ?? Graph?.ModelLengths?.SummaryWidth ?? Graph?.FeatureLength ?? InputDim;

    /// <summary>
    /// True when a sample of <paramref name="values"/> values is one this model takes: <see cref="InputDim"/>, or a
    /// shorter length its samples may have (<see cref="GraphInterface.Varying"/>).
    /// </summary>
    public bool TakesSampleOf(long values) => Graph?.TakesSampleOf(values) ?? values == InputDim;

    /// <summary>What a wrong sample size is told it should be: <c>64</c>, or <c>6 to 8 'frames' (48 to 64 values in steps of 8)</c>.</summary>
    public string SampleSizeText => Graph?.Varying?.Describe() ?? InputDim.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// False for a model served by tensor names (<see cref="GraphInterface.Tensors"/>): it has no features vector, no
    /// classes and no labels, so sample stores, feedback, evaluation, explanations and drift of features do not apply.
    /// </summary>
    public bool IsClassifier => Graph?.Tensors is null;

    /// <summary>An uploaded model that is not a classifier, served as it is through its tensors.</summary>
    public static ModelSpec ForTensors(TensorInterface tensors) => new(new GraphInterface(tensors));

    /// <summary>
    /// An uploaded ONNX regressor or multi-label classifier: samples of the graph's sample dims, its declared number of
    /// values or labels per row (<see cref="GraphInterface.TargetWidth"/>).
    /// </summary>
    public static ModelSpec ForTargets(GraphInterface graph) => new(graph, targets: true);

    /// <summary>
    /// A regressor (<see cref="GraphInterface.RegressionTargets"/>): its ground truth is float targets, its loss mean
    /// squared error and its score R²; it has no classes (<see cref="Classes"/> is 0), labels or class probabilities.
    /// </summary>
    public bool IsRegressor => Graph?.RegressionTargets > 0;

    /// <summary>
    /// A multi-label classifier (<see cref="GraphInterface.MultiLabels"/>): its ground truth is a 0/1 vector per row,
    /// its loss binary cross-entropy and its score the share of label decisions right (at probability 0.5); like a
    /// regressor it has no <see cref="Classes"/> and keeps target vectors.
    /// </summary>
    public bool IsMultiLabel => Graph?.MultiLabels > 0;

    /// <summary>
    /// A per-position classifier (<see cref="GraphInterface.PositionClasses"/>): its ground truth is a class id per
    /// position (a segmentation's pixels, a sequence's steps), its loss softmax cross-entropy per position and its score
    /// the share of positions right; its values are the class ids it answers, and its error against ground truth the
    /// share of positions wrong. Like a regressor it has no <see cref="Classes"/> and keeps target vectors.
    /// </summary>
    public bool IsPerPosition => Graph?.PositionClasses > 0;

    /// <summary>
    /// A multi-task model (<see cref="GraphInterface.Tasks"/>): its ground truth and its answer are every task's in
    /// order (a class id, 0/1 labels or their probabilities, or values), its loss the weighted sum of the tasks' and its score the primary task's;
    /// like a regressor it has no <see cref="Classes"/> and keeps target vectors.
    /// </summary>
    public bool IsMultiTask => Graph?.Tasks.Count > 0;

    /// <summary>The primary task of a multi-task model (its first), or null.</summary>
    public ModelTask? PrimaryTask => Graph?.Tasks is { Count: > 0 } tasks ? tasks[0] : null;

    /// <summary>
    /// True when ground truth is a float vector per row rather than a class label: a regressor's values or a
    /// multi-label classifier's 0/1 labels (feedback, the sample store, training, evaluation and shadow read targets).
    /// </summary>
    public bool TakesTargets => Targets > 0;

    /// <summary>What <c>accuracy</c> means for this model in logs and cards: R² for a regressor, the share of label decisions right for a multi-label classifier.</summary>
    public string AccuracyName => PrimaryTask is { } primary ? $"{primary.ScoreName} of '{primary.Output}'" : IsRegressor ? "R²" : IsMultiLabel ? "label accuracy" : IsPerPosition ? "position accuracy" : "accuracy";

    /// <summary>What a mean squared error against its targets is called: a multi-label classifier's is the Brier score.</summary>
    public string SquaredErrorName => IsMultiTask ? "task error" : IsMultiLabel ? "Brier score" : IsPerPosition ? "position error rate" : "MSE";

    /// <summary>What the model is, in words, where a message names it ("a regressor").</summary>
    public string KindName => IsMultiTask ? "a multi-task model" : IsRegressor ? "a regressor" : IsMultiLabel ? "a multi-label classifier" : IsPerPosition ? "a per-position classifier" : "a classifier";

    /// <summary>
    /// The error of one row's <paramref name="values"/> against its <paramref name="target"/> that feedback, shadow and
    /// A/B tests average: the mean squared error, or for a per-position classifier the share of positions wrong.
    /// </summary>
    public double RowError(ReadOnlySpan<float> values, ReadOnlySpan<float> target)
    {
        if (Graph?.Tasks is { Count: > 0 } tasks) return TasksError(tasks, values, target);
        var (sum, perPosition) = (0.0, IsPerPosition);
        for (var i = 0; i < values.Length; i++)
        {
            var e = (double)values[i] - target[i];
            sum += perPosition ? (e == 0 ? 0 : 1) : e * e;
        }

        return values.Length == 0 ? 0 : sum / values.Length;
    }

    /// <summary>
    /// A multi-task model's error of one row: each task's — a classifier task's 0 or 1 (its class wrong), a per-position
    /// task's share of positions wrong, a multi-label task's Brier score, a regression task's mean squared error —
    /// averaged with the tasks' weights.
    /// </summary>
    private static double TasksError(IReadOnlyList<ModelTask> tasks, ReadOnlySpan<float> values, ReadOnlySpan<float> target)
    {
        var (sum, weights, offset) = (0.0, 0.0, 0);
        foreach (var task in tasks)
        {
            var width = task.Width;
            var error = 0.0;
            for (var i = offset; i < offset + width; i++)
            {
                var e = (double)values[i] - target[i];
                error += task.Classes > 0 ? (e == 0 ? 0 : 1.0 / width) : e * e / width;
            }

            (sum, weights, offset) = (sum + (task.Weight * error), weights + task.Weight, offset + width);
        }

        return sum / weights;
    }

    /// <summary>
    /// What is wrong with one row of a multi-task model's ground truth (<paramref name="row"/>, <see cref="Targets"/>
    /// floats): each classifier task's value must be one of its class ids (a per-position task's at every position), each multi-label task's values 0 or 1. Null
    /// when it fits, or for another kind.
    /// </summary>
    public string? TaskTargetProblem(ReadOnlySpan<float> row)
    {
        var offset = 0;
        foreach (var task in Graph?.Tasks ?? [])
        {
            for (var i = offset; task.Classes > 0 && i < offset + task.Width; i++)
            {
                var v = row[i];
                if (!(v >= 0 && v < task.Classes && v == MathF.Floor(v)))
                    return $"target[{i}] is {v.ToString(System.Globalization.CultureInfo.InvariantCulture)}: task '{task.Output}' takes a class id{(task.IsClassifier ? string.Empty : " per position")} (0 to {task.Classes - 1})";
            }

            for (var i = offset; task.Kind == ModelTaskKind.Labels && i < offset + task.Width; i++)
            {
                if (row[i] is not (0f or 1f)) return $"target[{i}] is {row[i].ToString(System.Globalization.CultureInfo.InvariantCulture)}: task '{task.Output}' takes 0 or 1 per label";
            }

            offset += task.Width;
        }

        return null;
    }

    /// <summary>Floats of ground truth per row: a regressor's values, a multi-label classifier's labels (0 for a single-label classifier).</summary>
    public int Targets => Graph?.TargetWidth ?? 0;

    /// <summary>An uploaded ONNX classifier: samples of the graph's sample dims, <paramref name="classes"/> scores.</summary>
    public static ModelSpec ForGraph(GraphInterface graph, int classes) => new(graph, classes);

    public int InputDim { get; }

    public IReadOnlyList<int> Hidden { get; }

    public int Classes { get; }

    public int LayerCount => Hidden.Count + 1;

    /// <summary>(in, out) width of dense layer <paramref name="layer"/>.</summary>
    public (int In, int Out) LayerShape(int layer)
    {
        var inDim = layer == 0 ? InputDim : Hidden[layer - 1];
        var outDim = layer == Hidden.Count ? Classes : Hidden[layer];
        return (inDim, outDim);
    }

    public static ModelSpec LogisticRegression(int inputDim, int classes) => new(inputDim, [], classes);

    public static ModelSpec Mlp(int inputDim, IReadOnlyList<int> hidden, int classes) => new(inputDim, hidden, classes);

    /// <summary>
    /// Stable text form, e.g. <c>mlp-784-128-10</c>, <c>logreg-784-10</c>, or for an uploaded graph
    /// <c>onnx-784-10-{file sha256 prefix}-{interface hash}</c> (the registry refuses to resume under another).
    /// </summary>
    public override string ToString() => Graph is { Tensors: { } t }
        ? FormattableString.Invariant($"tensors-{t.SourceSha256[..12]}-{Hashing.StableHash.Fnv1a64(t.CanonicalText):x16}")
        : Graph is { } g
        ? FormattableString.Invariant($"onnx-{InputDim}-{Classes}-{g.SourceSha256[..12]}-{Hashing.StableHash.Fnv1a64(g.CanonicalText):x16}")
        : (Hidden.Count == 0 ? "logreg-" : "mlp-") + string.Join('-', new[] { InputDim }.Concat(Hidden).Append(Classes));

    public bool Equals(ModelSpec? other) =>
        other is not null && InputDim == other.InputDim && Classes == other.Classes && Hidden.SequenceEqual(other.Hidden) && Equals(Graph, other.Graph);

    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);
}
