using EdgeMlOps.Aggregator.Rollouts;

namespace EdgeMlOps.Aggregator.Tests.Experiments;

/// <summary>
/// The p-value an A/B test's note reports: three significant digits, unless three would put it on the other side of α
/// than the test's decision — a CI run read "p = 0.05" in the note of a stop made at p &lt; 0.05.
/// </summary>
public sealed class PValueTextTests
{
    [Theory]
    [InlineData(0.049996, "0.049996")]
    [InlineData(0.0499, "0.0499")]
    [InlineData(0.00593037, "0.00593")]
    [InlineData(0.05, "0.05")]
    [InlineData(0.1094, "0.109")]
    public void APValue_KeepsTheSideOfAlphaItWasJudgedOn(double p, string expected)
    {
        var text = ExperimentGate.PValueText(p, 0.05);
        Assert.Equal(expected, text);
        Assert.Equal(p < 0.05, double.Parse(text, System.Globalization.CultureInfo.InvariantCulture) < 0.05);
    }
}
