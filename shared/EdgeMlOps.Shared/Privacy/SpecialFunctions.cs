namespace EdgeMlOps.Shared.Privacy;

/// <summary>The few special functions the accountant needs, accurate to near double precision.</summary>
public static class SpecialFunctions
{
    private const double LogSqrtPi = 0.57236494292470008707;
    private const double Epsilon = 1e-16;
    private const double Tiny = 1e-300;

    /// <summary>exp(x) − 1 without cancellation for small x (Kahan's trick).</summary>
    public static double Expm1(double x)
    {
        var u = Math.Exp(x);
        if (u == 1.0) return x;
        var um1 = u - 1.0;
        if (um1 == -1.0) return -1.0;
        return double.IsPositiveInfinity(u) ? u : um1 * x / Math.Log(u);
    }

    /// <summary>log(1 + x) without cancellation for small x.</summary>
    public static double Log1p(double x)
    {
        var u = 1.0 + x;
        return u == 1.0 ? x : Math.Log(u) * x / (u - 1.0);
    }

    /// <summary>Φ(z), the standard normal distribution function.</summary>
    public static double NormalCdf(double z) => 0.5 * Erfc(-z / Math.Sqrt(2));

    /// <summary>Φ⁻¹(p) for 0 &lt; p &lt; 1, by bisection on <see cref="NormalCdf"/> (to ~1e-12; for confidence levels, not hot loops).</summary>
    public static double NormalQuantile(double p)
    {
        if (!(p > 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "must be strictly between 0 and 1");
        double lo = -40, hi = 40;
        for (var i = 0; i < 100 && hi - lo > 1e-12; i++)
        {
            var mid = 0.5 * (lo + hi);
            if (NormalCdf(mid) < p) lo = mid;
            else hi = mid;
        }

        return 0.5 * (lo + hi);
    }

    /// <summary>erfc(x) = 1 − erf(x).</summary>
    public static double Erfc(double x) => Math.Exp(LogErfc(x));

    /// <summary>log erfc(x), finite far into the tail (erfc(30) ≈ 1e-393 underflows; its log does not).</summary>
    public static double LogErfc(double x)
    {
        // erfc(x) = Q(½, x²) for x ≥ 0 and 1 + P(½, x²) for x < 0 (regularised incomplete gamma).
        var s = x * x;
        if (x < 0) return Log1p(LowerGammaHalf(s));
        return s < 1.5 ? Log1p(-LowerGammaHalf(s)) : LogUpperGammaHalfContinuedFraction(s);
    }

    /// <summary>P(½, s) by its power series (converges fast for s below about 1.5; used for any s when x &lt; 0).</summary>
    private static double LowerGammaHalf(double s)
    {
        if (s == 0) return 0;
        if (s > 40) return 1;
        return Math.Min(1.0, LowerGammaSeries(0.5, s, LogSqrtPi));
    }

    /// <summary>log Q(½, s) by Lentz's continued fraction (s ≥ 1.5).</summary>
    private static double LogUpperGammaHalfContinuedFraction(double s) => LogUpperGammaContinuedFraction(0.5, s, LogSqrtPi);

    /// <summary>
    /// Q(a, x) = Γ(a, x) / Γ(a), the regularised upper incomplete gamma function (a &gt; 0, x ≥ 0): the power
    /// series of P below x = a + 1, Lentz's continued fraction above (Numerical Recipes §6.2). The chi-square
    /// survival function is Q(k/2, x/2).
    /// </summary>
    public static double UpperRegularizedGamma(double a, double x)
    {
        if (x <= 0) return 1;
        var logGammaA = LogGamma(a);
        return x < a + 1
            ? Math.Clamp(1 - LowerGammaSeries(a, x, logGammaA), 0, 1)
            : Math.Clamp(Math.Exp(LogUpperGammaContinuedFraction(a, x, logGammaA)), 0, 1);
    }

    /// <summary>
    /// P(X ≥ <paramref name="k"/>) for X ~ Binomial(<paramref name="n"/>, <paramref name="p"/>): every term in log space,
    /// summed relative to the largest, so neither deep tails nor large n (hundreds of thousands) lose digits or overflow.
    /// </summary>
    public static double BinomialAtLeast(int k, int n, double p)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        if (k <= 0) return 1;
        if (k > n) return 0;
        if (p >= 1) return 1;
        if (p <= 0) return 0;
        double logP = Math.Log(p), logQ = Math.Log(1 - p);
        var first = LogChoose(n, k) + k * logP + (n - k) * logQ;
        double logTerm = first, largest = first;
        for (var i = k; i < n; i++)
        {
            logTerm += Math.Log((double)(n - i) / (i + 1)) + logP - logQ;
            largest = Math.Max(largest, logTerm);
        }

        logTerm = first;
        var sum = 0.0;
        for (var i = k; i <= n; i++)
        {
            sum += Math.Exp(logTerm - largest);
            if (i < n) logTerm += Math.Log((double)(n - i) / (i + 1)) + logP - logQ;
        }

        return Math.Min(1, Math.Exp(largest + Math.Log(sum)));
    }

    /// <summary>
    /// Two-sided p-value of Student's t with <paramref name="degreesOfFreedom"/>: P(|T| ≥ |t|) = I_{ν/(ν+t²)}(ν/2, ½), the
    /// regularized incomplete beta function. A test on few clusters (devices) reads its statistic against t, not the normal.
    /// </summary>
    public static double StudentTTwoSided(double t, double degreesOfFreedom)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(degreesOfFreedom, 0);
        if (double.IsNaN(t)) return double.NaN;
        if (double.IsInfinity(t)) return 0;
        return RegularizedIncompleteBeta(degreesOfFreedom / (degreesOfFreedom + t * t), degreesOfFreedom / 2, 0.5);
    }

    /// <summary>I_x(a, b) for a, b &gt; 0 and x in [0, 1]: its continued fraction (modified Lentz), on the side where it converges fast.</summary>
    public static double RegularizedIncompleteBeta(double x, double a, double b)
    {
        if (x <= 0) return 0;
        if (x >= 1) return 1;
        var front = Math.Exp(LogGamma(a + b) - LogGamma(a) - LogGamma(b) + a * Math.Log(x) + b * Math.Log(1 - x));
        return x < (a + 1) / (a + b + 2)
            ? front * BetaFraction(x, a, b) / a
            : 1 - front * BetaFraction(1 - x, b, a) / b;
    }

    /// <summary>The continued fraction of the incomplete beta function (Lentz's method; converges for x &lt; (a+1)/(a+b+2)).</summary>
    private static double BetaFraction(double x, double a, double b)
    {
        const double tiny = 1e-300;
        double c = 1, d = 1 - (a + b) * x / (a + 1);
        d = 1 / (Math.Abs(d) < tiny ? tiny : d);
        var result = d;
        for (var m = 1; m <= 10_000; m++)
        {
            // Even step: d_{2m} = m(b − m)x / ((a + 2m − 1)(a + 2m)).
            var even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
            d = 1 / (Math.Abs(1 + even * d) < tiny ? tiny : 1 + even * d);
            c = 1 + even / c;
            c = Math.Abs(c) < tiny ? tiny : c;
            result *= d * c;

            // Odd step: d_{2m+1} = −(a + m)(a + b + m)x / ((a + 2m)(a + 2m + 1)).
            var odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
            d = 1 / (Math.Abs(1 + odd * d) < tiny ? tiny : 1 + odd * d);
            c = 1 + odd / c;
            c = Math.Abs(c) < tiny ? tiny : c;
            var step = d * c;
            result *= step;
            if (Math.Abs(step - 1) < 1e-15) break;
        }

        return result;
    }

    /// <summary>ln C(n, k), summed exactly term by term.</summary>
    public static double LogChoose(int n, int k)
    {
        var result = 0.0;
        k = Math.Min(k, n - k);
        for (var i = 1; i <= k; i++) result += Math.Log(n - k + i) - Math.Log(i);
        return result;
    }

    /// <summary>ln Γ(x) for x &gt; 0 (Lanczos, g = 7, 9 terms; about 15 digits).</summary>
    public static double LogGamma(double x)
    {
        ReadOnlySpan<double> c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
        if (x < 0.5) return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        x -= 1;
        var sum = c[0];
        for (var i = 1; i < 9; i++) sum += c[i] / (x + i);
        var t = x + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }

    /// <summary>P(a, s) by its power series; <paramref name="logGammaA"/> is ln Γ(a).</summary>
    private static double LowerGammaSeries(double a, double s, double logGammaA)
    {
        var ap = a;
        var term = 1.0 / a;
        var sum = term;
        for (var n = 0; n < 10_000; n++)
        {
            ap += 1;
            term *= s / ap;
            sum += term;
            if (Math.Abs(term) < Math.Abs(sum) * Epsilon) break;
        }

        return sum * Math.Exp(-s + a * Math.Log(s) - logGammaA);
    }

    /// <summary>log Q(a, s) by Lentz's continued fraction (s ≥ a + 1); <paramref name="logGammaA"/> is ln Γ(a).</summary>
    private static double LogUpperGammaContinuedFraction(double a, double s, double logGammaA)
    {
        var b = s + 1 - a;
        var c = 1 / Tiny;
        var d = 1 / b;
        var h = d;
        for (var i = 1; i < 10_000; i++)
        {
            var an = -i * (i - a);
            b += 2;
            d = an * d + b;
            if (Math.Abs(d) < Tiny) d = Tiny;
            c = b + an / c;
            if (Math.Abs(c) < Tiny) c = Tiny;
            d = 1 / d;
            var delta = d * c;
            h *= delta;
            if (Math.Abs(delta - 1) < Epsilon) break;
        }

        return -s + a * Math.Log(s) - logGammaA + Math.Log(h);
    }
}
