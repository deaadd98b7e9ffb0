namespace EdgeMlOps.Shared.Monitoring;

/// <summary>Which statistic judged a feature, its value, the threshold, and the verdict.</summary>
public sealed record FeatureDrift(int Feature, string Method, double Score, double Threshold, bool Drifted, long ReferenceCount, long CurrentCount);

/// <summary>Per-feature tests and thresholds; defaults follow Evidently.</summary>
public sealed record DriftOptions
{
    /// <summary>auto (Evidently's choice by sample size), ks, wasserstein, psi or jensenshannon.</summary>
    public string Method { get; init; } = "auto";

    /// <summary>KS: drift when p &lt; this.</summary>
    public double KsPValue { get; init; } = 0.05;

    /// <summary>Distance methods (Wasserstein normed by the reference's stddev, PSI, Jensen–Shannon): drift when ≥ this.</summary>
    public double DistanceThreshold { get; init; } = 0.1;

    /// <summary>auto uses KS up to this many reference values, the normed Wasserstein distance above.</summary>
    public long KsMaxCount { get; init; } = 1000;

    /// <summary>Bins for PSI and Jensen–Shannon (edges at the reference's quantiles).</summary>
    public int Bins { get; init; } = 10;

    /// <summary>The dataset drifts when at least this share of its features does.</summary>
    public double DriftShare { get; init; } = 0.5;

    /// <summary>Fewer current values than this: not judged.</summary>
    public long MinCount { get; init; } = 30;

    /// <summary>Per-feature method overrides (feature index → method).</summary>
    public IReadOnlyDictionary<int, string> PerFeature { get; init; } = new Dictionary<int, string>();
}

/// <summary>
/// Drift between two profiles of a feature computed from their sketches alone (no raw data):
/// PSI and Jensen–Shannon over reference-quantile bins, Kolmogorov–Smirnov from the two sketched
/// CDFs (asymptotic p-value with Stephens' correction), and the Wasserstein-1 distance from the
/// quantile functions, normalized by the reference's standard deviation as Evidently does.
/// </summary>
public static class DriftStatistics
{
    private const double Floor = 1e-4;

    public static FeatureDrift Test(int feature, FeatureProfile reference, FeatureProfile current, DriftOptions options)
    {
        var method = options.PerFeature.TryGetValue(feature, out var chosen) ? chosen : options.Method;
        if (method == "auto") method = reference.Count <= options.KsMaxCount ? "ks" : "wasserstein";
        if (current.Count < options.MinCount || reference.Count < options.MinCount)
        {
            return new FeatureDrift(feature, method, double.NaN, Threshold(method, options), false, reference.Count, current.Count);
        }

        var score = method switch
        {
            "ks" => KolmogorovSmirnov(reference.Sketch, current.Sketch).PValue,
            "wasserstein" => WassersteinNormed(reference, current),
            "psi" => Psi(reference.Sketch, current.Sketch, options.Bins),
            "jensenshannon" => JensenShannon(reference.Sketch, current.Sketch, options.Bins),
            _ => throw new ArgumentException($"unknown drift method '{method}'"),
        };
        var drifted = method == "ks" ? score < options.KsPValue : score >= options.DistanceThreshold;
        return new FeatureDrift(feature, method, score, Threshold(method, options), drifted, reference.Count, current.Count);
    }

    private static double Threshold(string method, DriftOptions options) => method == "ks" ? options.KsPValue : options.DistanceThreshold;

    /// <summary>Shares of reference and current values in bins whose edges are the reference's quantiles.</summary>
    public static (double[] Reference, double[] Current) Binned(KllSketch reference, KllSketch current, int bins)
    {
        var edges = reference.Quantiles(Enumerable.Range(1, bins - 1).Select(i => (double)i / bins).ToArray()).Distinct().ToArray();
        var r = new double[edges.Length + 1];
        var c = new double[edges.Length + 1];
        double previousR = 0, previousC = 0;
        for (var i = 0; i <= edges.Length; i++)
        {
            var rankR = i < edges.Length ? reference.Rank(edges[i]) : 1;
            var rankC = i < edges.Length ? current.Rank(edges[i]) : 1;
            r[i] = Math.Max(rankR - previousR, 0);
            c[i] = Math.Max(rankC - previousC, 0);
            (previousR, previousC) = (rankR, rankC);
        }

        return (r, c);
    }

    /// <summary>Population stability index, Σ (c − r) ln(c / r), with shares floored at 1e-4.</summary>
    public static double Psi(KllSketch reference, KllSketch current, int bins = 10)
    {
        var (r, c) = Binned(reference, current, bins);
        double psi = 0;
        for (var i = 0; i < r.Length; i++)
        {
            var ri = Math.Max(r[i], Floor);
            var ci = Math.Max(c[i], Floor);
            psi += (ci - ri) * Math.Log(ci / ri);
        }

        return psi;
    }

    /// <summary>Jensen–Shannon distance (square root of the divergence, natural log, as scipy's default).</summary>
    public static double JensenShannon(KllSketch reference, KllSketch current, int bins = 10)
    {
        var (r, c) = Binned(reference, current, bins);
        double divergence = 0;
        for (var i = 0; i < r.Length; i++)
        {
            var m = (r[i] + c[i]) / 2;
            if (r[i] > 0) divergence += 0.5 * r[i] * Math.Log(r[i] / m);
            if (c[i] > 0) divergence += 0.5 * c[i] * Math.Log(c[i] / m);
        }

        return Math.Sqrt(Math.Max(divergence, 0));
    }

    /// <summary>Two-sample KS statistic from the sketched CDFs, and its asymptotic p-value.</summary>
    public static (double Statistic, double PValue) KolmogorovSmirnov(KllSketch reference, KllSketch current)
    {
        var points = new SortedSet<float>();
        foreach (var level in reference.Levels) points.UnionWith(level);
        foreach (var level in current.Levels) points.UnionWith(level);
        double d = 0;
        foreach (var x in points) d = Math.Max(d, Math.Abs(reference.Rank(x) - current.Rank(x)));
        double n = reference.Count, m = current.Count;
        var effective = n * m / (n + m);
        var sqrt = Math.Sqrt(effective);
        return (d, KolmogorovQ((sqrt + 0.12 + 0.11 / sqrt) * d));
    }

    /// <summary>Q_KS(λ) = 2 Σ (−1)^(j−1) exp(−2 j² λ²), the Kolmogorov distribution's tail.</summary>
    public static double KolmogorovQ(double lambda)
    {
        if (lambda < 0.2) return 1;
        double sum = 0;
        for (var j = 1; j <= 100; j++)
        {
            var term = Math.Exp(-2.0 * j * j * lambda * lambda);
            sum += (j % 2 == 1 ? 1 : -1) * term;
            if (term < 1e-12) break;
        }

        return Math.Clamp(2 * sum, 0, 1);
    }

    /// <summary>Wasserstein-1 distance from 200 quantiles of each, divided by the reference's standard deviation.</summary>
    public static double WassersteinNormed(FeatureProfile reference, FeatureProfile current)
    {
        const int points = 200;
        var qs = Enumerable.Range(0, points).Select(i => (i + 0.5) / points).ToArray();
        var a = reference.Sketch.Quantiles(qs);
        var b = current.Sketch.Quantiles(qs);
        double sum = 0;
        for (var i = 0; i < points; i++) sum += Math.Abs(a[i] - b[i]);
        var distance = sum / points;
        var std = reference.StdDev;
        return std > 0 ? distance / std : distance > 0 ? double.PositiveInfinity : 0;
    }
}
