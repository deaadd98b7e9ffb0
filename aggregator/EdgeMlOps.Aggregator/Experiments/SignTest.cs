using EdgeMlOps.Shared.Privacy;

namespace EdgeMlOps.Aggregator.Experiments;

/// <summary>
/// The exact sign test: how surprising k or more "yes" out of n would be if each were a fair coin — once, at a fixed n
/// (<see cref="UpperTail"/>), or at every look as n grows (<see cref="AlwaysValid"/>).
/// </summary>
public static class SignTest
{
    /// <summary>
    /// An always-valid p-value for "yes" being more likely than not, safe to read after every new observation: the
    /// reciprocal of the mixture likelihood ratio Λ = ∫ p^k (1−p)^(n−k) dπ(p) / ½ⁿ with π uniform on (½, 1), which
    /// under any p ≤ ½ is a nonnegative supermartingale, so by Ville's inequality P(Λ ever reaches 1/α) ≤ α however
    /// often it is read. In closed form Λ = Σ_{j≤k} C(n+1, j) / ((n+1)·C(n, k)). It asks for more evidence than the
    /// fixed-n test (10 of 10: p = 0.005 against 0.001; 9 of 10: 0.054 against 0.011) — the price of looking at will.
    /// </summary>
    public static double AlwaysValid(int k, int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        if (n == 0 || k <= 0) return 1;
        k = Math.Min(k, n);
        // P(Binomial(n+1, ½) ≤ k) = P(X ≥ n+1−k) by symmetry, summed directly: 1 − P(X ≥ k+1) cancels to rounding noise
        // when k is far below n/2 (one slower device of 74 came out as p = 2e-5 instead of 1 and stopped an A/B test).
        var atMostK = UpperTail(n + 1 - k, n + 1);
        var logLambda = (n + 1) * Math.Log(2) + Math.Log(atMostK) - Math.Log(n + 1) - SpecialFunctions.LogChoose(n, k);
        return Math.Min(1, Math.Exp(-logLambda));
    }

    /// <summary>P(X ≥ <paramref name="k"/>) for X ~ Binomial(<paramref name="n"/>, 1/2).</summary>
    public static double UpperTail(int k, int n) => SpecialFunctions.BinomialAtLeast(k, n, 0.5);
}
