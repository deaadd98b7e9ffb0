namespace EdgeMlOps.Aggregator.Experiments;

/// <summary>The exact sign test: how surprising k or more "yes" out of n would be if each were a fair coin.</summary>
public static class SignTest
{
    /// <summary>P(X ≥ <paramref name="k"/>) for X ~ Binomial(<paramref name="n"/>, 1/2), summed in log space (exact for any n).</summary>
    public static double UpperTail(int k, int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        if (k <= 0) return 1;
        if (k > n) return 0;

        // log C(n, i) built up from log C(n, k); terms summed relative to the largest (i = k is the largest when k > n/2).
        var logTerm = LogChoose(n, k);
        var first = logTerm;
        var sum = 0.0;
        for (var i = k; i <= n; i++)
        {
            sum += Math.Exp(logTerm - first);
            logTerm += Math.Log(n - i) - Math.Log(i + 1);
        }

        return Math.Min(1, Math.Exp(first + Math.Log(sum) - n * Math.Log(2)));
    }

    private static double LogChoose(int n, int k)
    {
        var result = 0.0;
        for (var i = 1; i <= k; i++) result += Math.Log(n - k + i) - Math.Log(i);
        return result;
    }
}
