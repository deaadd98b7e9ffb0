using System.Globalization;

namespace EdgeMlOps.Shared.Models;

/// <summary>What one output of a multi-task model is trained as.</summary>
public enum ModelTaskKind
{
    /// <summary>[batch, classes] scores, softmax cross-entropy on a class id; scored by accuracy.</summary>
    Classes,

    /// <summary>Values with fixed axes behind the batch, mean squared error; scored by R².</summary>
    Regression,

    /// <summary>[batch, k] independent label scores, binary cross-entropy on 0/1 labels; scored by label accuracy.</summary>
    Labels,

    /// <summary>[batch, classes, positions…] scores, softmax cross-entropy per position on a class id per position; scored by position accuracy.</summary>
    Positions,

    /// <summary>A per-position task in a tagger's layout, [batch, positions…, classes] (the classes last, as <c>nn.Linear</c> writes them).</summary>
    Tags,
}

/// <summary>
/// One output of a multi-task model (<see cref="GraphInterface.Tasks"/>) — the digit a scan shows beside the lower half
/// it completes, an object's class beside its box and its attributes —: a classifier task's [batch, <see cref="Classes"/>]
/// scores (softmax cross-entropy on a class id), a regression task's [batch, ..<see cref="Dims"/>] values (mean squared
/// error), a multi-label task's [batch, <see cref="Labels"/>] independent scores (binary cross-entropy on 0/1 labels), or
/// a per-position task's [batch, <see cref="Classes"/>, ..<see cref="Dims"/>] scores (softmax cross-entropy at every
/// position, on a class id per position: a segmentation beside the classification); its <see cref="Weight"/> in the summed loss.
/// </summary>
public sealed class ModelTask
{
    /// <summary>Most classes a classifier task may score.</summary>
    public const int MaxClasses = 1 << 16;

    /// <summary>Largest weight a task may carry in the loss.</summary>
    public const float MaxWeight = 1000f;

    public ModelTask(string output, int classes, IReadOnlyList<long> dims, float weight = 1f, bool logits = false, int labels = 0, bool classAxisLast = false)
    {
        var errors = new List<string>();
        if (string.IsNullOrEmpty(output)) errors.Add("a task's output has no name");
        if (classes is 1 or < 0 or > MaxClasses) errors.Add($"task '{output}': a classifier task scores 2 to {MaxClasses} classes, not {classes}");
        if (labels is < 0 or > GraphInterface.MaxRegressionTargets) errors.Add($"task '{output}': a multi-label task scores 1 to {GraphInterface.MaxRegressionTargets} labels, not {labels}");
        if (classes > 0 && labels > 0) errors.Add($"task '{output}': a task is a classifier or a multi-label task, not both");
        if (labels > 0 && dims.Count > 0) errors.Add($"task '{output}': a multi-label task's scores are [batch, k]; it declares no value axes");
        if (classes > 0 && dims.Count > 0 && (dims.Count > GraphInterface.MaxValuesRank || dims.Any(d => d <= 0) || dims.Aggregate(1L, (a, d) => Math.Min(a * Math.Max(d, 1), GraphInterface.MaxPositions + 1L)) is var positions && (positions > GraphInterface.MaxPositions || positions * classes > GraphInterface.MaxPositionScores)))
            errors.Add($"task '{output}': a per-position task's positions span 1 to {GraphInterface.MaxValuesRank} fixed, positive axes, at most {GraphInterface.MaxPositions} positions and {GraphInterface.MaxPositionScores} scores per row, not {classes} classes at [{string.Join(", ", dims)}]");
        if (classes == 0 && labels == 0 && (dims.Count == 0 || dims.Count > GraphInterface.MaxValuesRank || dims.Any(d => d <= 0) || dims.Aggregate(1L, (a, d) => Math.Min(a * Math.Max(d, 1), GraphInterface.MaxRegressionTargets + 1L)) > GraphInterface.MaxRegressionTargets))
            errors.Add($"task '{output}': a regression task's values span 1 to {GraphInterface.MaxValuesRank} fixed, positive axes holding at most {GraphInterface.MaxRegressionTargets} values, not [{string.Join(", ", dims)}]");
        if (!float.IsFinite(weight) || weight <= 0 || weight > MaxWeight) errors.Add($"task '{output}': its weight must be above 0 and at most {MaxWeight}, not {weight.ToString(CultureInfo.InvariantCulture)}");
        if (logits && classes == 0 && labels == 0) errors.Add($"task '{output}': a regression task's values are not logits");
        if (classAxisLast && (classes == 0 || dims.Count == 0)) errors.Add($"task '{output}': only a per-position task has its classes on the last axis");
        if (errors.Count > 0) throw new ArgumentException("Invalid graph interface: " + string.Join("; ", errors));
        (Output, Classes, Labels, Dims, Weight, Logits, ClassAxisLast) = (output, classes, labels, [.. dims], weight, logits, classAxisLast);
    }

    /// <summary>The graph output the task reads and trains.</summary>
    public string Output { get; }

    /// <summary>A classifier task's classes; 0 for another task.</summary>
    public int Classes { get; }

    /// <summary>A multi-label task's labels; 0 for another task.</summary>
    public int Labels { get; }

    /// <summary>A regression task's axes behind the batch, a per-position task's positions (behind its classes); empty for another task.</summary>
    public IReadOnlyList<long> Dims { get; }

    /// <summary>Its weight in the summed loss.</summary>
    public float Weight { get; }

    /// <summary>A classifier or multi-label task's scores are logits (softmax or sigmoid applied on the device), not probabilities.</summary>
    public bool Logits { get; }

    /// <summary>A per-position task's scores are [batch, positions…, classes] (a tagger's layout), not [batch, classes, positions…].</summary>
    public bool ClassAxisLast { get; }

    public ModelTaskKind Kind => Classes > 0 ? Dims.Count > 0 ? ClassAxisLast ? ModelTaskKind.Tags : ModelTaskKind.Positions : ModelTaskKind.Classes : Labels > 0 ? ModelTaskKind.Labels : ModelTaskKind.Regression;

    /// <summary>A per-position task, in either layout: a class id at every position.</summary>
    public bool IsPerPosition => Classes > 0 && Dims.Count > 0;

    /// <summary>Where a per-position task's class <c>c</c> at position <c>j</c> is in a row of its scores: <c>c × Class + j × Position</c> (a classifier task's: one position).</summary>
    public (int Class, int Position) ScoreStrides => ClassAxisLast ? (1, Classes) : (Width, 1);

    /// <summary>A classifier task, with one class id per row; not a per-position task.</summary>
    public bool IsClassifier => Classes > 0 && Dims.Count == 0;

    /// <summary>Class decisions a row's ground truth holds: 1 for a classifier task, a per-position task's positions, each label of a multi-label task; 0 for a regression task.</summary>
    public int Decisions => Kind == ModelTaskKind.Regression ? 0 : Width;

    /// <summary>Floats of ground truth (and of answer) per row: a class id, the 0/1 labels (their probabilities), the values, or a class id per position.</summary>
    public int Width => IsClassifier ? 1 : Labels > 0 ? Labels : (int)Dims.Aggregate(1L, (a, d) => a * d);

    /// <summary>Floats the output makes per row: the class scores, the label scores, the values, or the class scores at every position.</summary>
    public int ScoresWidth => Classes > 0 ? Classes * Width : Width;

    /// <summary>The output's axes behind the batch.</summary>
    public long[] ScoresDims => Classes > 0 ? ClassAxisLast ? [.. Dims, Classes] : [Classes, .. Dims] : Labels > 0 ? [Labels] : [.. Dims];

    /// <summary>What the task's score (the primary's is the model's accuracy) is called.</summary>
    public string ScoreName => ScoreNameOf(Kind);

    /// <summary>What a task of <paramref name="kind"/> is scored by.</summary>
    public static string ScoreNameOf(ModelTaskKind kind) => kind switch { ModelTaskKind.Classes => "accuracy", ModelTaskKind.Labels => "label accuracy", ModelTaskKind.Positions or ModelTaskKind.Tags => "position accuracy", _ => "R²" };

    /// <summary>The task as declared: <c>digit:classes</c>, <c>bottom:regression:0.5</c>, <c>attributes:labels</c>.</summary>
    public string Declaration => $"{Output}:{Kind.ToString().ToLowerInvariant()}{(Weight == 1f ? string.Empty : ":" + Weight.ToString("R", CultureInfo.InvariantCulture))}";

    /// <summary>What a row's ground truth holds for this task, in words: <c>a class id for 'digit'</c>.</summary>
    public string TruthText => Kind switch
    {
        ModelTaskKind.Classes => $"a class id for '{Output}'",
        ModelTaskKind.Labels => $"{Labels} labels (0 or 1) for '{Output}'",
        ModelTaskKind.Positions or ModelTaskKind.Tags => $"a class id at each of {Width} positions for '{Output}'",
        _ => $"{Width} values for '{Output}'",
    };

    /// <summary>The task in words (the card, the CLI, the agent).</summary>
    public string Describe() => Kind switch
    {
        ModelTaskKind.Classes => $"'{Output}': {(Logits ? "logits" : "probabilities")} of {Classes} classes, a class id per row",
        ModelTaskKind.Labels => $"'{Output}': {GraphInterface.DescribeLabels(Labels, Logits)}",
        ModelTaskKind.Positions or ModelTaskKind.Tags => $"'{Output}': {GraphInterface.DescribePositions(Classes, Dims, Logits, ClassAxisLast)}",
        _ => $"'{Output}': {GraphInterface.DescribeValues(Width, Dims)}",
    };

    /// <summary>Every field in one piece; equal texts mean equal tasks.</summary>
    public string CanonicalText => string.Join(':', Output, Classes.ToString(CultureInfo.InvariantCulture), string.Join('x', Dims.Select(d => d.ToString(CultureInfo.InvariantCulture))),
        Weight.ToString("R", CultureInfo.InvariantCulture), Logits ? "logits" : "probabilities") + (Labels > 0 ? ":labels" + Labels.ToString(CultureInfo.InvariantCulture) : string.Empty)
        + (ClassAxisLast ? ":classes-last" : string.Empty);

    /// <summary>
    /// The tasks an operator declares (<c>ModelInterface:Tasks</c>, simulator <c>--tasks</c>, <c>models check --tasks</c>):
    /// <c>OUTPUT:classes|regression|labels|positions|tags[:WEIGHT]</c>, comma-separated, the primary first. Throws <see cref="ArgumentException"/> saying what is wrong.
    /// </summary>
    public static IReadOnlyList<(string Output, ModelTaskKind Kind, float Weight)> Parse(string text)
    {
        var tasks = new List<(string, ModelTaskKind, float)>();
        foreach (var item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = item.Split(':');
            if (parts.Length is < 2 or > 3 || parts[0].Length == 0 || parts[1] is not ("classes" or "regression" or "labels" or "positions" or "tags"))
                throw new ArgumentException($"'{item}' is not OUTPUT:classes, OUTPUT:regression, OUTPUT:labels, OUTPUT:positions or OUTPUT:tags, with an optional :WEIGHT");
            var weight = 1f;
            if (parts.Length == 3 && (!float.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out weight) || !float.IsFinite(weight) || weight <= 0 || weight > MaxWeight))
                throw new ArgumentException($"'{item}': the weight must be a number above 0 and at most {MaxWeight}");
            tasks.Add((parts[0], parts[1] switch { "classes" => ModelTaskKind.Classes, "labels" => ModelTaskKind.Labels, "positions" => ModelTaskKind.Positions, "tags" => ModelTaskKind.Tags, _ => ModelTaskKind.Regression }, weight));
        }

        if (tasks.Count is < 2 or > GraphInterface.MaxTasks) throw new ArgumentException($"a multi-task model trains 2 to {GraphInterface.MaxTasks} outputs, not {tasks.Count}");
        if (tasks.Select(t => t.Item1).Distinct(StringComparer.Ordinal).Count() != tasks.Count) throw new ArgumentException("an output is named twice");
        return tasks;
    }
}
