namespace EdgeMlOps.Aggregator.Experiments;

/// <summary>
/// What one arm of an A/B test contributes to its statistic: the number of observations, their sum and the sum of
/// their squares. A proportion (accuracy, a share) is the case of 0/1 observations — sum and sum of squares both the
/// successes, so its variance is p(1 − p) — and a mean (cost per labelled prediction) the general one; the tests read
/// both through <see cref="Mean"/> and <see cref="VarianceOfMean"/>.
/// <para>
/// When devices rather than requests are randomised, a device's observations are not independent (one device's
/// inputs are alike), and the i.i.d. variance understates the spread: the arm is then a sum of <see cref="Cluster"/>s,
/// one per device, and its variance the cluster-robust one of a ratio estimator,
/// k/(k−1) · Σ(Sᵢ − m·Nᵢ)² / (ΣNᵢ)², from three more mergeable sums.
/// </para>
/// </summary>
public readonly record struct ArmSample(long N, double Sum, double SumSquares)
{
    /// <summary>Devices summed (0: observations are treated as independent).</summary>
    public int Clusters { get; init; }

    /// <summary>Σ over devices of (device sum)².</summary>
    public double ClusterSumSquares { get; init; }

    /// <summary>Σ over devices of device sum × device count.</summary>
    public double ClusterCross { get; init; }

    /// <summary>Σ over devices of (device count)².</summary>
    public double ClusterSizeSquares { get; init; }

    public static ArmSample Proportion(long successes, long trials) => new(trials, successes, successes);

    /// <summary>One device's observations as a cluster.</summary>
    public static ArmSample Cluster(ArmSample device) => device with
    {
        Clusters = 1,
        ClusterSumSquares = device.Sum * device.Sum,
        ClusterCross = device.Sum * device.N,
        ClusterSizeSquares = (double)device.N * device.N,
    };

    public double? Mean => N > 0 ? Sum / N : null;

    /// <summary>
    /// The variance of <see cref="Mean"/>: the observations' variance over N, or for a sum of clusters the
    /// cluster-robust variance (0 while it cannot be estimated: no observations, or fewer than two devices).
    /// </summary>
    public double VarianceOfMean
    {
        get
        {
            if (N <= 0) return 0;
            var mean = Sum / N;
            if (Clusters > 0)
            {
                if (Clusters < 2) return 0;
                var spread = ClusterSumSquares - 2 * mean * ClusterCross + mean * mean * ClusterSizeSquares;
                return Math.Max(0, spread) * Clusters / (Clusters - 1) / ((double)N * N);
            }

            return Math.Max(0, SumSquares / N - mean * mean) / N;
        }
    }

    public static ArmSample operator +(ArmSample a, ArmSample b) => new(a.N + b.N, a.Sum + b.Sum, a.SumSquares + b.SumSquares)
    {
        Clusters = a.Clusters + b.Clusters,
        ClusterSumSquares = a.ClusterSumSquares + b.ClusterSumSquares,
        ClusterCross = a.ClusterCross + b.ClusterCross,
        ClusterSizeSquares = a.ClusterSizeSquares + b.ClusterSizeSquares,
    };
}
