using EdgeMlOps.Shared.Explanations;

namespace EdgeMlOps.Runtime;

/// <summary>
/// A served classifier as the explainers see it when rows it refuses are expected (a front end whose counts the data
/// decides, and rows a permutation or a dependence grid changed): such a row is not answered (all zeros), the others as
/// the model answers them (<see cref="InferenceModel.ProbabilitiesAnswered"/>).
/// </summary>
public sealed class AnsweredProbabilities(InferenceModel model) : IProbabilityModel
{
    public int InputDim => model.Spec.InputDim;

    public int Classes => model.Spec.Classes;

    public float[] Probabilities(float[] rows, int count) => model.ProbabilitiesAnswered(rows, count);
}
