using EdgeMlOps.Shared.Privacy;

namespace EdgeMlOps.Shared.Tests.Privacy;

/// <summary>Values published in Google's dp_accounting test suite (rdp_privacy_accountant_test.py).</summary>
public class RdpAccountantTests
{
    [Fact]
    public void SampledGaussian_MatchesPublishedRdp()
    {
        // q = 0.01, σ = 2.5, 50 steps: test_compute_rdp_poisson_sampled_gaussian.
        var accountant = new RdpAccountant([1.5, 2.5, 5, 50, 100]);
        accountant.Compose(0.01, 2.5, 50);
        double[] published = [6.70579741e-04, 1.08548710e-03, 2.18075656e-03, 2.38460375e-02, 1.67416308e02];
        for (var i = 0; i < published.Length; i++) Assert.Equal(published[i], accountant.Rdp[i], published[i] * 1e-4);
    }

    [Fact]
    public void Conversion_PureDp_MatchesPublishedEpsilon()
    {
        // Constant RDP 1.1 over orders 2..32 at δ = 1e-5: ε = 1.32783806176 at order 32.
        var orders = Enumerable.Range(2, 31).Select(o => (double)o).ToArray();
        var (epsilon, order) = RdpAccountant.EpsilonFromRdp(orders, orders.Select(_ => 1.1).ToArray(), 1e-5);
        Assert.Equal(1.32783806176, epsilon, 9);
        Assert.Equal(32, order);
    }

    [Fact]
    public void UnsampledGaussian_NoiseForEpsilonOne_MatchesPublished()
    {
        // σ = 4.530877117 gives exactly (1, 1e-6)-DP for one Gaussian release.
        var accountant = new RdpAccountant(Enumerable.Range(1000, 99_000).Select(i => 0.001 * i).Where(a => a > 1));
        accountant.Compose(1.0, 4.530877117);
        Assert.Equal(1.0, accountant.Epsilon(1e-6), 3);
    }

    [Fact]
    public void Epsilon_GrowsWithRounds_AndShrinksWithNoise()
    {
        var low = new RdpAccountant();
        var high = new RdpAccountant();
        low.Compose(0.1, 1.0, 10);
        high.Compose(0.1, 2.0, 10);
        Assert.True(high.Epsilon(1e-5) < low.Epsilon(1e-5));
        var before = low.Epsilon(1e-5);
        Assert.Equal(low.EpsilonAfter(0.1, 1.0, 1e-5), Compose(low, 0.1, 1.0), 9);
        Assert.True(low.Epsilon(1e-5) > before);
        Assert.Equal(0, new RdpAccountant().Epsilon(1e-5));
    }

    [Fact]
    public void LogErfc_MatchesKnownValues_FarIntoTheTail()
    {
        Assert.Equal(0.157299207050285, SpecialFunctions.Erfc(1.0), 12);
        Assert.Equal(1.842700792949715, SpecialFunctions.Erfc(-1.0), 12);
        Assert.Equal(Math.Log(2.088487583762545e-45), SpecialFunctions.LogErfc(10), 9);
        Assert.True(double.IsFinite(SpecialFunctions.LogErfc(40)));
    }

    private static double Compose(RdpAccountant accountant, double q, double sigma)
    {
        accountant.Compose(q, sigma);
        return accountant.Epsilon(1e-5);
    }
}
