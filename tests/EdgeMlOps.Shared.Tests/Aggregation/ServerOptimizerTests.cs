using EdgeMlOps.Shared.Aggregation;

namespace EdgeMlOps.Shared.Tests.Aggregation;

public class ServerOptimizerTests
{
    [Fact]
    public void Sgd_And_Momentum_FollowTheirRecurrences()
    {
        var w = new[] { 1f, 2f };
        new SgdServerOptimizer(0.5).Step(w, [2f, -2f]);
        Assert.Equal([2f, 1f], w);

        var m = new MomentumServerOptimizer(1.0, 0.9);
        var x = new[] { 0f };
        m.Step(x, [1f]);
        m.Step(x, [1f]);
        Assert.Equal(1f + 1.9f, x[0], 5);
    }

    [Theory]
    [InlineData(AdaptiveRule.Adam)]
    [InlineData(AdaptiveRule.Yogi)]
    [InlineData(AdaptiveRule.Adagrad)]
    public void Adaptive_TwoSteps_MatchReddiEtAl(AdaptiveRule rule)
    {
        const double eta = 0.1, b1 = 0.9, b2 = 0.99, tau = 1e-3;
        var opt = new AdaptiveServerOptimizer(rule, eta, b1, b2, tau);
        var w = new[] { 0f };
        double m = 0, v = tau * tau, expected = 0;
        foreach (var d in new[] { 0.5, -0.2 })
        {
            opt.Step(w, [(float)d]);
            m = b1 * m + (1 - b1) * d;
            v = rule switch
            {
                AdaptiveRule.Adagrad => v + d * d,
                AdaptiveRule.Adam => b2 * v + (1 - b2) * d * d,
                _ => v - (1 - b2) * d * d * Math.Sign(v - d * d),
            };
            expected += eta * m / (Math.Sqrt(v) + tau);
        }

        Assert.Equal(expected, w[0], 4);
    }

    [Fact]
    public void State_RoundTrips_AndAMismatchStartsAfresh()
    {
        var a = new AdaptiveServerOptimizer(AdaptiveRule.Adam, 0.01);
        var w1 = new float[3];
        a.Step(w1, [1f, 2f, 3f]);
        var b = new AdaptiveServerOptimizer(AdaptiveRule.Adam, 0.01);
        Assert.True(b.RestoreState(a.SaveState().Select(v => v.ToArray()).ToList(), 3));
        var w2 = (float[])w1.Clone();
        a.Step(w1, [1f, 1f, 1f]);
        b.Step(w2, [1f, 1f, 1f]);
        Assert.Equal(w1, w2);
        Assert.False(new AdaptiveServerOptimizer(AdaptiveRule.Adam, 0.01).RestoreState(a.SaveState(), 4));
    }
}
