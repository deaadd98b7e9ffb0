using EdgeMlOps.Shared.Onnx.Training;

namespace EdgeMlOps.Runtime;

/// <summary>
/// Adam's update from a mean gradient, computed as the generated train step computes it (<c>TrainStepGenerator</c>:
/// bias-corrected moments, float32 arithmetic, the same β₁, β₂ and ε). A device needs it for a file that takes one row
/// at a time: the rows' gradients are found one by one and averaged, and Adam — unlike SGD and momentum — is not linear
/// in the gradient, so the mean of one-row Adam steps would not be the mini-batch's step.
/// </summary>
internal static class AdamStep
{
    /// <summary>
    /// From <paramref name="from"/> (parameters, then first moments, then second moments, <paramref name="parameters"/>
    /// floats each) into <paramref name="into"/>, whose first moments hold on entry what a step from zero moments writes
    /// there — (1 − β₁)·g for the mean gradient g — and on return the step at <paramref name="step"/> (1-based) and
    /// learning rate <paramref name="learningRate"/>.
    /// </summary>
    public static void Apply(ReadOnlySpan<float> from, Span<float> into, int parameters, float learningRate, float step)
    {
        var (beta1, beta2, epsilon) = TrainStepOptions.Adam;
        var (keep1, keep2) = (1 - beta1, 1 - beta2);
        var (correct1, correct2) = (1 - MathF.Pow(beta1, step), 1 - MathF.Pow(beta2, step));
        for (var i = 0; i < parameters; i++)
        {
            var g = into[parameters + i] / keep1;
            var m = (from[parameters + i] * beta1) + (g * keep1);
            var v = (from[(2 * parameters) + i] * beta2) + (g * g * keep2);
            into[parameters + i] = m;
            into[(2 * parameters) + i] = v;
            into[i] = from[i] - (m / correct1 / (MathF.Sqrt(v / correct2) + epsilon) * learningRate);
        }
    }
}
