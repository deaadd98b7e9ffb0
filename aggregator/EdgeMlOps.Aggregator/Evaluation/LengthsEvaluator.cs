using EdgeMlOps.Runtime;

namespace EdgeMlOps.Aggregator.Evaluation;

/// <summary>
/// A held-out set of samples of several lengths (<see cref="Shared.Models.GraphInterface.Varying"/>): one evaluator per
/// length, each length scored on its own and the scores weighted by its count — overall and per cohort — as devices
/// score theirs. Explanations read the rows of the longest length (<see cref="Rows"/>), the one width they take.
/// </summary>
public sealed class LengthsEvaluator(IReadOnlyList<IModelEvaluator> lengths, LabelledRows? longest) : IModelEvaluator
{
    public int Count => lengths.Sum(l => l.Count);

    public LabelledRows? Rows => longest;

    public EvaluationScore Evaluate(InferenceModel model) => EvaluationScore.Pooled(lengths.Select(l => l.Evaluate(model)));

    public IReadOnlyDictionary<string, EvaluationScore> EvaluateCohorts(InferenceModel model) =>
        lengths.SelectMany(l => l.EvaluateCohorts(model)).GroupBy(p => p.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => EvaluationScore.Pooled(g.Select(p => p.Value)), StringComparer.Ordinal);

    /// <summary>
    /// The evaluator of labelled rows whose widths vary (row <c>i</c> holds <paramref name="widths"/>[i] values):
    /// <paramref name="create"/> makes each length's from the indices of its rows; one length alone is that evaluator.
    /// </summary>
    public static IModelEvaluator Of(int[] widths, int longestWidth, Func<int[], int, IModelEvaluator> create)
    {
        var groups = Enumerable.Range(0, widths.Length).GroupBy(i => widths[i]).OrderBy(g => g.Key).ToList();
        if (groups.Count == 1) return create([.. groups[0]], groups[0].Key);
        var parts = groups.Select(g => (g.Key, Evaluator: create([.. g], g.Key))).ToList();
        return new LengthsEvaluator([.. parts.Select(p => p.Evaluator)], parts.FirstOrDefault(p => p.Key == longestWidth).Evaluator?.Rows);
    }
}
