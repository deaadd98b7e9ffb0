using EdgeMlOps.Runtime;

namespace EdgeMlOps.Aggregator.Evaluation;

/// <summary>
/// Evaluates a regressor or multi-label classifier on a held-out set kept by the aggregator: samples (row-major) and
/// their float targets, <paramref name="targetWidth"/> per sample. A regressor's score is the mean squared error and R²,
/// a multi-label classifier's binary cross-entropy and the share of label decisions right, so the fleet's gates (a
/// floor, no regression against the deployed version) read it as they read a classifier's accuracy.
/// Cohorts, when given, name each sample's group; it shares no rows for explanations (they read class probabilities).
/// </summary>
public sealed class HeldOutTargetsEvaluator(float[] features, float[] targets, int targetWidth, IReadOnlyList<string>? cohorts = null) : IModelEvaluator
{
    public int Count => targets.Length / Math.Max(1, targetWidth);

    public EvaluationScore Evaluate(InferenceModel model) => model.EvaluateTargets(features, targets);

    public IReadOnlyDictionary<string, EvaluationScore> EvaluateCohorts(InferenceModel model) => model.EvaluateTargetCohorts(features, targets, cohorts);
}
