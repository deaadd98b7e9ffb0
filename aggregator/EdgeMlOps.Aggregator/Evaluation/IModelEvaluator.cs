using EdgeMlOps.Runtime;

namespace EdgeMlOps.Aggregator.Evaluation;

/// <summary>Scores a candidate version centrally (optional; federated evaluation needs no data here).</summary>
public interface IModelEvaluator
{
    EvaluationScore Evaluate(InferenceModel model);
}

/// <summary>Evaluates on a held-out labelled set kept by the aggregator.</summary>
public sealed class HeldOutEvaluator(float[] features, long[] labels) : IModelEvaluator
{
    public int Count => labels.Length;

    public EvaluationScore Evaluate(InferenceModel model) => model.Evaluate(features, labels);
}
