using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Privacy;

namespace EdgeMlOps.Shared.Tests.Privacy;

public class NoiseSourceTests
{
    [Fact]
    public void DpStrategy_ByDefault_DrawsNoiseFromTheCsprng_AndSaysSo()
    {
        var strategy = StandardStrategy.Create(new StrategyOptions { Dp = new DpOptions() });
        Assert.Contains("noise csprng", strategy.Describe(), StringComparison.Ordinal);
        var seeded = StandardStrategy.Create(new StrategyOptions { Dp = new DpOptions { NoiseSeed = 7 } });
        Assert.Contains("not private", seeded.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void Csprng_IsUniformOnTheUnitInterval_AndNeverRepeatsAnotherInstance()
    {
        var a = NoiseSource.Create(null);
        var b = NoiseSource.Create(null);
        var values = Enumerable.Range(0, 100_000).Select(_ => a.NextDouble()).ToArray();
        Assert.All(values, v => Assert.InRange(v, 0.0, 0.9999999999999999));
        Assert.InRange(values.Average(), 0.495, 0.505);
        Assert.InRange(values.Count(v => v < 0.1), 9_500, 10_500);
        Assert.NotEqual(values.Take(8), Enumerable.Range(0, 8).Select(_ => b.NextDouble()));
    }

    [Fact]
    public void Seeded_ReproducesARun()
    {
        var a = NoiseSource.Create(42);
        var b = NoiseSource.Create(42);
        Assert.Equal(Enumerable.Range(0, 100).Select(_ => a.NextDouble()), Enumerable.Range(0, 100).Select(_ => b.NextDouble()));
    }
}
