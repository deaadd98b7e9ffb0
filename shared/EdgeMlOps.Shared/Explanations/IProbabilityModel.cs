namespace EdgeMlOps.Shared.Explanations;

/// <summary>
/// What the explainers need of a classifier: class probabilities for a batch of rows. Explanations treat the model as a
/// black box, so the same code explains a version on the aggregator's held-out data and on a device.
/// </summary>
public interface IProbabilityModel
{
    int InputDim { get; }

    int Classes { get; }

    /// <summary>
    /// Probabilities row-major [<paramref name="count"/>, <see cref="Classes"/>] for rows [<paramref name="count"/>,
    /// <see cref="InputDim"/>]. A row the model cannot answer (a front end whose counts the data decides refuses it) may
    /// be all zeros — no answer: the explainers count it as not right and leave it out of averages.
    /// </summary>
    float[] Probabilities(float[] rows, int count);
}
