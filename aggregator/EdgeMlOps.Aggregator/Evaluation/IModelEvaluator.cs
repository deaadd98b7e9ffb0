using EdgeMlOps.Runtime;

namespace EdgeMlOps.Aggregator.Evaluation;

/// <summary>Scores a candidate version centrally (optional; federated evaluation needs no data here).</summary>
public interface IModelEvaluator
{
    EvaluationScore Evaluate(InferenceModel model);

    /// <summary>Scores overall (<see cref="InferenceModel.AllCohorts"/>) and per cohort, for the validation gates.</summary>
    IReadOnlyDictionary<string, EvaluationScore> EvaluateCohorts(InferenceModel model);

    /// <summary>The labelled rows behind the scores, for explanations (null when the evaluator cannot share them).</summary>
    LabelledRows? Rows => null;

    /// <summary>Samples it scores on (0 when it does not say).</summary>
    int Count => Rows?.Count ?? 0;
}

/// <summary>Labelled rows, row-major, with the groups each row belongs to (its cohort and <c>attribute=value</c> per declared attribute).</summary>
public sealed record LabelledRows(float[] Features, long[] Labels, IReadOnlyList<IReadOnlyList<string>> Groups)
{
    public int Count => Labels.Length;
}

/// <summary>
/// Evaluates on a held-out labelled set kept by the aggregator. Cohorts are the given names per
/// sample (e.g. hardware class or region of the device the sample came from), or by default the
/// true class ("class=3"): a version that gets better on average while forgetting one digit fails
/// the subpopulation gate.
/// Declared attributes of a sample (sensitive ones such as an age band, or a device property) form further groups for
/// the subpopulation analysis of model cards; they are not gated.
/// </summary>
public sealed class HeldOutEvaluator(float[] features, long[] labels, IReadOnlyList<string>? cohorts = null, IReadOnlyList<IReadOnlyDictionary<string, string>>? attributes = null) : IModelEvaluator
{
    private readonly IReadOnlyList<string> _cohorts = cohorts ?? labels.Select(l => "class=" + l.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    public int Count => labels.Length;

    public LabelledRows Rows => _rows ??= new(features, labels, _cohorts.Select((cohort, i) =>
        (IReadOnlyList<string>)[cohort, .. (attributes?[i] ?? new Dictionary<string, string>()).OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => a.Key + "=" + a.Value)]).ToArray());

    private LabelledRows? _rows;

    public EvaluationScore Evaluate(InferenceModel model) => model.Evaluate(features, labels);

    public IReadOnlyDictionary<string, EvaluationScore> EvaluateCohorts(InferenceModel model) => model.EvaluateCohorts(features, labels, _cohorts);
}
