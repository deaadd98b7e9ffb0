namespace EdgeMlOps.Shared.Privacy;

/// <summary>
/// Rényi-DP accountant for the Poisson-sampled Gaussian mechanism (Mironov, Talwar and Zhang
/// 2019), the mechanism of DP-FedAvg: each round samples devices with probability q and adds
/// Gaussian noise of σ times the clip to their clipped sum. RDP composes by addition over
/// rounds; ε at a given δ uses the conversion of Balle et al. 2020 (Proposition 12), as Google's
/// dp_accounting and TensorFlow Privacy do, so figures are comparable with theirs.
/// </summary>
public sealed class RdpAccountant
{
    /// <summary>The orders dp_accounting uses by default.</summary>
    public static readonly IReadOnlyList<double> DefaultOrders =
        Enumerable.Range(1, 99).Select(x => 1 + x / 10.0)
            .Concat(Enumerable.Range(11, 53).Select(x => (double)x))
            .Concat([128, 256, 512, 1024]).ToArray();

    private readonly double[] _orders;
    private readonly double[] _rdp;

    public RdpAccountant(IEnumerable<double>? orders = null)
    {
        _orders = (orders ?? DefaultOrders).ToArray();
        if (_orders.Length == 0 || _orders.Any(a => !(a > 1))) throw new ArgumentException("RDP orders must be > 1.", nameof(orders));
        _rdp = new double[_orders.Length];
    }

    /// <summary>Rounds (mechanism invocations) composed so far.</summary>
    public long Steps { get; private set; }

    public IReadOnlyList<double> Orders => _orders;

    /// <summary>Accumulated RDP at each order.</summary>
    public IReadOnlyList<double> Rdp => _rdp;

    /// <summary>Adds <paramref name="steps"/> rounds, each sampling with probability <paramref name="q"/> and noise multiplier <paramref name="sigma"/>.</summary>
    public void Compose(double q, double sigma, long steps = 1)
    {
        if (q is < 0 or > 1 || double.IsNaN(q)) throw new ArgumentOutOfRangeException(nameof(q), "sampling probability must be in [0, 1]");
        if (!(sigma >= 0)) throw new ArgumentOutOfRangeException(nameof(sigma), "noise multiplier must be ≥ 0");
        if (steps < 0) throw new ArgumentOutOfRangeException(nameof(steps));
        for (var i = 0; i < _orders.Length; i++) _rdp[i] += steps * SampledGaussianRdp(q, sigma, _orders[i]);
        Steps += steps;
    }

    /// <summary>The smallest ε over the orders such that the composition is (ε, δ)-DP.</summary>
    public double Epsilon(double delta) => EpsilonFromRdp(_orders, _rdp, delta).Epsilon;

    /// <summary>Replaces the accumulated RDP (from a saved state).</summary>
    public void Restore(IReadOnlyList<double> rdp, long steps)
    {
        if (rdp.Count != _orders.Length || rdp.Any(r => !(r >= 0))) throw new ArgumentException("Saved RDP does not match the orders.", nameof(rdp));
        for (var i = 0; i < _rdp.Length; i++) _rdp[i] = rdp[i];
        Steps = steps;
    }

    /// <summary>What ε would be after <paramref name="steps"/> more rounds like (q, σ), without composing them.</summary>
    public double EpsilonAfter(double q, double sigma, double delta, long steps = 1)
    {
        var rdp = new double[_orders.Length];
        for (var i = 0; i < _orders.Length; i++) rdp[i] = _rdp[i] + steps * SampledGaussianRdp(q, sigma, _orders[i]);
        return EpsilonFromRdp(_orders, rdp, delta).Epsilon;
    }

    /// <summary>RDP of one sampled Gaussian step at order <paramref name="alpha"/>.</summary>
    public static double SampledGaussianRdp(double q, double sigma, double alpha)
    {
        if (q == 0) return 0;
        if (sigma == 0 || double.IsPositiveInfinity(alpha)) return double.PositiveInfinity;
        if (q == 1) return alpha / (2 * sigma * sigma);
        return LogA(q, sigma, alpha) / (alpha - 1);
    }

    /// <summary>ε from RDP at δ: min over orders of rdp + log(1 − 1/α) − log(δα)/(α − 1) (Balle et al. 2020).</summary>
    public static (double Epsilon, double Order) EpsilonFromRdp(IReadOnlyList<double> orders, IReadOnlyList<double> rdp, double delta)
    {
        if (!(delta > 0 && delta < 1)) throw new ArgumentOutOfRangeException(nameof(delta), "delta must be in (0, 1)");
        var best = double.PositiveInfinity;
        var bestOrder = double.NaN;
        for (var i = 0; i < orders.Count; i++)
        {
            var a = orders[i];
            var r = rdp[i];
            double epsilon;
            if (delta * delta + SpecialFunctions.Expm1(-r) > 0) epsilon = 0;
            else if (a > 1.01) epsilon = r + SpecialFunctions.Log1p(-1 / a) - Math.Log(delta * a) / (a - 1);
            else epsilon = double.PositiveInfinity;
            if (epsilon < best)
            {
                best = epsilon;
                bestOrder = a;
            }
        }

        return (Math.Max(0, best), bestOrder);
    }

    /// <summary>log A_α, the α-th moment of the privacy loss of the sampled Gaussian.</summary>
    private static double LogA(double q, double sigma, double alpha) =>
        alpha == Math.Floor(alpha) && alpha < int.MaxValue ? LogAInteger(q, sigma, (int)alpha) : LogAFractional(q, sigma, alpha);

    private static double LogAInteger(double q, double sigma, int alpha)
    {
        // A = Σ_k C(α,k) (1−q)^(α−k) q^k exp((k² − k) / 2σ²)
        var logA = double.NegativeInfinity;
        var logBinomial = 0.0;
        for (var k = 0; k <= alpha; k++)
        {
            if (k > 0) logBinomial += Math.Log(alpha - k + 1) - Math.Log(k);
            var term = logBinomial + k * Math.Log(q) + (alpha - k) * Math.Log(1 - q) + (k * (double)k - k) / (2 * sigma * sigma);
            logA = LogAdd(logA, term);
        }

        return logA;
    }

    private static double LogAFractional(double q, double sigma, double alpha)
    {
        // Two integrals, over (−∞, z0] and [z0, ∞), each a series in i (Mironov et al. 2019,
        // Section 3.3). Terms are added by magnitude, an upper bound on A_α, as dp_accounting does.
        double logA0 = double.NegativeInfinity, logA1 = double.NegativeInfinity;
        double lastS0 = double.NegativeInfinity, lastS1 = double.NegativeInfinity;
        var z0 = sigma * sigma * Math.Log(1 / q - 1) + 0.5;
        var log1mq = SpecialFunctions.Log1p(-q);
        var logCoefficient = 0.0;
        for (var i = 0; i < 1000; i++)
        {
            if (i > 0) logCoefficient += Math.Log(Math.Abs((alpha - i + 1) / i));
            var j = alpha - i;
            var logT0 = logCoefficient + i * Math.Log(q) + j * log1mq;
            var logT1 = logCoefficient + j * Math.Log(q) + i * log1mq;
            var logE0 = Math.Log(0.5) + SpecialFunctions.LogErfc((i - z0) / (Math.Sqrt(2) * sigma));
            var logE1 = Math.Log(0.5) + SpecialFunctions.LogErfc((z0 - j) / (Math.Sqrt(2) * sigma));
            var logS0 = logT0 + (i * (double)i - i) / (2 * sigma * sigma) + logE0;
            var logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
            logA0 = LogAdd(logA0, logS0);
            logA1 = LogAdd(logA1, logS1);
            var total = LogAdd(logA0, logA1);
            if (logS0 < lastS0 && logS1 < lastS1 && Math.Max(logS0, logS1) < total - 30) break;
            lastS0 = logS0;
            lastS1 = logS1;
        }

        return LogAdd(logA0, logA1);
    }

    private static double LogAdd(double x, double y)
    {
        var (a, b) = x >= y ? (x, y) : (y, x);
        return double.IsNegativeInfinity(b) ? a : a + SpecialFunctions.Log1p(Math.Exp(b - a));
    }
}
