using EdgeMlOps.Runtime;

namespace EdgeMlOps.Agent.Serving;

/// <summary>
/// A model's answer to one sample must be finite numbers. A finite sample can still overflow the model's float
/// arithmetic (a value of 3e38 times a weight): its answer is then NaN or infinite, which no caller can use and JSON
/// cannot carry. The sample is at fault, as when a front end refuses it: refused (a 422 at the local API), counted.
/// </summary>
internal static class FiniteAnswer
{
    /// <summary>Why <paramref name="answer"/> is no answer, or null when every value is finite.</summary>
    public static string? Why(ReadOnlySpan<float> answer)
    {
        foreach (var value in answer)
        {
            if (!float.IsFinite(value)) return "the model's answer to this sample is not a finite number: its values overflow the model's arithmetic";
        }

        return null;
    }

    /// <summary><paramref name="batch"/>, or a <see cref="SampleRefusedException"/> when its probabilities are not finite.</summary>
    public static PredictionBatch Of(PredictionBatch batch) => Why(batch.Probabilities) is { } why ? throw new SampleRefusedException(why) : batch;

    /// <summary><paramref name="batch"/>, or a <see cref="SampleRefusedException"/> when its values are not finite.</summary>
    public static ValueBatch Of(ValueBatch batch) => Why(batch.Values) is { } why ? throw new SampleRefusedException(why) : batch;

    /// <summary>Why the served model cannot answer <paramref name="sample"/> as training on it would need (it fails on it, or its answer is not finite), or null.</summary>
    public static string? For(InferenceModel inference, float[] sample)
    {
        if (inference.Tensors is not null || !inference.Spec.TakesSampleOf(sample.Length)) return null;
        try
        {
            return Why(inference.Spec.TakesTargets ? inference.PredictValues(sample, 1).Values : inference.Predict(sample, 1).Probabilities);
        }
        catch (Exception ex) when (AnswerFailure.Is(ex))
        {
            return "the model cannot answer this sample: " + ex.Message;
        }
    }
}
