using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Shared.Tests.Monitoring;

public class DriftStatisticsTests
{
    private static FeatureProfile Profile(int n, int seed, double mean = 0, double std = 1)
    {
        var random = new Random(seed);
        var profile = new FeatureProfile(seed: (ulong)seed + 1);
        for (var i = 0; i < n; i++) profile.Add((float)(mean + std * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble())));
        return profile;
    }

    [Fact]
    public void KolmogorovDistribution_MatchesItsKnownCriticalValues()
    {
        Assert.Equal(0.05, DriftStatistics.KolmogorovQ(1.3581), 3);
        Assert.Equal(0.01, DriftStatistics.KolmogorovQ(1.6276), 3);
        Assert.Equal(1.0, DriftStatistics.KolmogorovQ(0.1), 12);
    }

    [Theory]
    [InlineData("ks", 150)] // below k: the sketch holds every value, so this is the exact two-sample test
    [InlineData("wasserstein", 5000)]
    [InlineData("psi", 5000)]
    [InlineData("jensenshannon", 5000)]
    public void SameDistribution_DoesNotDrift_AHalfSigmaShiftDoes(string method, int n)
    {
        var options = new DriftOptions { Method = DriftMethods.Parse(method) };
        var reference = Profile(n, 1);
        var same = DriftStatistics.Test(0, reference, Profile(n, 2), options);
        var shifted = DriftStatistics.Test(0, reference, Profile(n, 3, mean: 0.5), options);
        Assert.False(same.Drifted, $"{method} on the same distribution: {same.Score}");
        Assert.True(shifted.Drifted, $"{method} on a 0.5σ shift: {shifted.Score}");
    }

    [Fact]
    public void Auto_FollowsEvidently_KsForSmallReferences_WassersteinAbove()
    {
        var options = new DriftOptions();
        Assert.Equal("ks", DriftStatistics.Test(0, Profile(800, 1), Profile(800, 2), options).Method);
        Assert.Equal("wasserstein", DriftStatistics.Test(0, Profile(3000, 1), Profile(800, 2), options).Method);
        Assert.False(DriftStatistics.Test(0, Profile(3000, 1), Profile(10, 2, mean: 5), options).Drifted);
    }

    [Fact]
    public void SketchedStatistics_AgreeWithExactOnes()
    {
        // Exact normal-shift figures: W1 of a 0.5σ shift = 0.5 (normed: 0.5); KS D = 2Φ(0.25) − 1 ≈ 0.1974.
        var reference = Profile(100_000, 1);
        var current = Profile(100_000, 2, mean: 0.5);
        Assert.Equal(0.5, DriftStatistics.WassersteinNormed(reference, current), 1);
        Assert.InRange(DriftStatistics.WassersteinNormed(reference, current), 0.46, 0.54);
        Assert.InRange(DriftStatistics.KolmogorovSmirnov(reference.Sketch, current.Sketch).Statistic, 0.1974 - 0.03, 0.1974 + 0.03);
    }
}
