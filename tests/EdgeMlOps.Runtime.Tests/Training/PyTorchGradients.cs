using System.Text.Json;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>How far one SGD step moved every parameter from −lr × the gradient PyTorch's autograd computed (a fixture's <c>"gradients"</c> by tensor name).</summary>
internal static class PyTorchGradients
{
    /// <summary>The worst per-value relative error of (before − after) / lr against PyTorch's gradient (gradients below 1e-3 compared absolutely), the fixture's <paramref name="key"/> object.</summary>
    public static double WorstRelativeError(ModelWeights before, float[] after, float lr, JsonElement expected, string key = "gradients")
    {
        var worst = 0.0;
        foreach (var tensor in before.Layout.Tensors)
        {
            var gradient = expected.GetProperty(key).GetProperty(tensor.Name).EnumerateArray().Select(v => v.GetDouble()).ToArray();
            for (var i = 0; i < tensor.Length; i++)
            {
                var moved = (before.Values[tensor.Offset + i] - after[tensor.Offset + i]) / lr;
                worst = Math.Max(worst, Math.Abs(moved - gradient[i]) / Math.Max(1e-3, Math.Abs(gradient[i])));
            }
        }

        return worst;
    }
}
