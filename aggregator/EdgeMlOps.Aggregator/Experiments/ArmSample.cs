namespace EdgeMlOps.Aggregator.Experiments;

/// <summary>
/// What one arm of an A/B test contributes to its statistic: the number of observations, their sum and the sum of
/// their squares. A proportion (accuracy, a share) is the case of 0/1 observations — sum and sum of squares both the
/// successes, so its variance is p(1 − p) — and a mean (cost per labelled prediction) the general one; the tests read
/// both through <see cref="Mean"/> and <see cref="VarianceOfMean"/>.
/// </summary>
public readonly record struct ArmSample(long N, double Sum, double SumSquares)
{
    public static ArmSample Proportion(long successes, long trials) => new(trials, successes, successes);

    public double? Mean => N > 0 ? Sum / N : null;

    /// <summary>The variance of <see cref="Mean"/> (the observations' variance over N; 0 while N is 0).</summary>
    public double VarianceOfMean
    {
        get
        {
            if (N <= 0) return 0;
            var mean = Sum / N;
            return Math.Max(0, SumSquares / N - mean * mean) / N;
        }
    }

    public static ArmSample operator +(ArmSample a, ArmSample b) => new(a.N + b.N, a.Sum + b.Sum, a.SumSquares + b.SumSquares);
}
