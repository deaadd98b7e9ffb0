namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>Served class probabilities against the softmax of the logits PyTorch computed (a fixture's raw outputs).</summary>
internal static class PyTorchLogits
{
    /// <summary>Each row's probabilities equal softmax(logits) within 1e-5.</summary>
    public static void AssertSoftmax(IReadOnlyList<double> logits, IReadOnlyList<float> probabilities, int classes)
    {
        Assert.Equal(logits.Count, probabilities.Count);
        for (var row = 0; row < logits.Count / classes; row++)
        {
            var scores = logits.Skip(row * classes).Take(classes).ToArray();
            var total = scores.Sum(s => Math.Exp(s - scores.Max()));
            for (var k = 0; k < classes; k++) Assert.Equal(Math.Exp(scores[k] - scores.Max()) / total, probabilities[(row * classes) + k], 1e-5);
        }
    }
}
