using System.Text.Json;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>Compares what a real agent answered with what PyTorch computed: its probabilities against the softmax of PyTorch's logits.</summary>
internal static class PyTorchSoftmax
{
    /// <summary>Asserts the answer's <c>probabilities</c> are the softmax of <paramref name="logits"/> (one row), each within 1e-5; returns them as answered.</summary>
    public static float[] AssertAnswered(IReadOnlyList<double> logits, JsonElement answer)
    {
        var max = logits.Max();
        var total = logits.Sum(v => Math.Exp(v - max));
        var probabilities = answer.GetProperty("probabilities").EnumerateArray().Select(p => p.GetDouble()).ToArray();
        Assert.Equal(logits.Count, probabilities.Length);
        for (var k = 0; k < logits.Count; k++) Assert.Equal(Math.Exp(logits[k] - max) / total, probabilities[k], 1e-5);
        return [.. answer.GetProperty("probabilities").EnumerateArray().Select(p => p.GetSingle())];
    }

    /// <inheritdoc cref="AssertAnswered(IReadOnlyList{double}, JsonElement)"/>
    public static float[] AssertAnswered(ReadOnlySpan<float> logits, JsonElement answer)
    {
        double[] row = [.. logits.ToArray().Select(v => (double)v)];
        return AssertAnswered(row, answer);
    }
}
