namespace EdgeMlOps.Shared.Monitoring;

/// <summary>Which statistic judged a feature, its value, the threshold, and the verdict.</summary>
public sealed record FeatureDrift(int Feature, string Method, double Score, double Threshold, bool Drifted, long ReferenceCount, long CurrentCount);

/// <summary>Per-feature tests and thresholds; defaults follow Evidently.</summary>
public sealed record DriftOptions
{
    /// <summary>
    /// auto (Evidently's choice by sample size), ks, wasserstein, psi or jensenshannon; for a
    /// categorical feature auto picks chisquare or jensenshannon, and the numeric-only ks and
    /// wasserstein fall back to auto's choice.
    /// </summary>
    public DriftMethod Method { get; init; } = DriftMethod.Auto;

    /// <summary>KS: drift when p &lt; this.</summary>
    public double KsPValue { get; init; } = 0.05;

    /// <summary>Distance methods (Wasserstein normed by the reference's stddev, PSI, Jensen–Shannon): drift when ≥ this.</summary>
    public double DistanceThreshold { get; init; } = 0.1;

    /// <summary>auto uses KS (chi-square for a categorical feature) up to this many reference values, the normed Wasserstein distance (Jensen–Shannon) above.</summary>
    public long KsMaxCount { get; init; } = 1000;

    /// <summary>Bins for PSI and Jensen–Shannon (edges at the reference's quantiles).</summary>
    public int Bins { get; init; } = 10;

    /// <summary>The dataset drifts when at least this share of its features does.</summary>
    public double DriftShare { get; init; } = 0.5;

    /// <summary>Fewer current values than this: not judged.</summary>
    public long MinCount { get; init; } = 30;

    /// <summary>Per-feature method overrides (feature index → method).</summary>
    public IReadOnlyDictionary<int, DriftMethod> PerFeature { get; init; } = new Dictionary<int, DriftMethod>();
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
        if (reference.IsCategorical != current.IsCategorical) throw new ArgumentException($"feature {feature}: a categorical and a numeric profile cannot be compared");
        var method = options.PerFeature.TryGetValue(feature, out var chosen) ? chosen : options.Method;
        if (reference.IsCategorical) return TestCategorical(feature, reference, current, method, options);
        if (method == DriftMethod.Auto) method = reference.Count <= options.KsMaxCount ? DriftMethod.Ks : DriftMethod.Wasserstein;
        if (current.Count < options.MinCount || reference.Count < options.MinCount)
        {
            return new FeatureDrift(feature, method.Name(), double.NaN, Threshold(method, options), false, reference.Count, current.Count);
        }

        var score = method switch
        {
            DriftMethod.Ks => KolmogorovSmirnov(reference.Sketch, current.Sketch).PValue,
            DriftMethod.Wasserstein => WassersteinNormed(reference, current),
            DriftMethod.Psi => Psi(reference.Sketch, current.Sketch, options.Bins),
            DriftMethod.JensenShannon => JensenShannon(reference.Sketch, current.Sketch, options.Bins),
            _ => throw new ArgumentException($"drift method '{method.Name()}' is for categorical features"),
        };
        var drifted = method == DriftMethod.Ks ? score < options.KsPValue : score >= options.DistanceThreshold;
        return new FeatureDrift(feature, method.Name(), score, Threshold(method, options), drifted, reference.Count, current.Count);
    }

    private static double Threshold(DriftMethod method, DriftOptions options) => method is DriftMethod.Ks or DriftMethod.ChiSquare ? options.KsPValue : options.DistanceThreshold;

    private static FeatureDrift TestCategorical(int feature, FeatureProfile reference, FeatureProfile current, DriftMethod method, DriftOptions options)
    {
        var (r, c) = CategoryCounts(reference.Categories!, current.Categories!);
        return TestCategories(feature, r, c, reference.Count, current.Count, method, options);
    }

    /// <summary>
    /// Exact counts per category (a classifier's predicted classes, say) against a reference's, with
    /// <see cref="DriftOptions.Method"/> as for a categorical feature (auto: chi-square up to
    /// <see cref="DriftOptions.KsMaxCount"/> reference values, Jensen–Shannon above).
    /// </summary>
    public static FeatureDrift TestCounts(int feature, IReadOnlyList<long> reference, IReadOnlyList<long> current, DriftOptions options)
    {
        if (reference.Count != current.Count) throw new ArgumentException($"feature {feature}: {reference.Count} reference categories against {current.Count}");
        var r = reference.Select(x => (double)x).ToArray();
        var c = current.Select(x => (double)x).ToArray();
        return TestCategories(feature, r, c, reference.Sum(), current.Sum(), options.Method, options);
    }

    private static FeatureDrift TestCategories(int feature, double[] r, double[] c, long referenceCount, long currentCount, DriftMethod method, DriftOptions options)
    {
        if (method is DriftMethod.Auto or DriftMethod.Ks or DriftMethod.Wasserstein) method = referenceCount <= options.KsMaxCount ? DriftMethod.ChiSquare : DriftMethod.JensenShannon;
        if (currentCount < options.MinCount || referenceCount < options.MinCount)
        {
            return new FeatureDrift(feature, method.Name(), double.NaN, Threshold(method, options), false, referenceCount, currentCount);
        }

        var score = method switch
        {
            DriftMethod.ChiSquare => ChiSquareHomogeneity(r, c).PValue,
            DriftMethod.Psi => Psi(Shares(r), Shares(c)),
            DriftMethod.JensenShannon => JensenShannon(Shares(r), Shares(c)),
            _ => throw new ArgumentException($"drift method '{method.Name()}' is not for a categorical feature"),
        };
        var drifted = method == DriftMethod.ChiSquare ? score < options.KsPValue : score >= options.DistanceThreshold;
        return new FeatureDrift(feature, method.Name(), score, Threshold(method, options), drifted, referenceCount, currentCount);
    }

    /// <summary>
    /// Counts of both sketches over the union of their tracked categories, plus a last "other" cell
    /// for what neither tracks (zero when both are exact).
    /// </summary>
    public static (double[] Reference, double[] Current) CategoryCounts(FrequentItemsSketch reference, FrequentItemsSketch current)
    {
        var categories = reference.Items.Select(i => i.Key).Union(current.Items.Select(i => i.Key)).Order().ToArray();
        var r = new double[categories.Length + 1];
        var c = new double[categories.Length + 1];
        for (var i = 0; i < categories.Length; i++)
        {
            r[i] = reference.Estimate(categories[i]);
            c[i] = current.Estimate(categories[i]);
        }

        r[^1] = Math.Max(0, reference.Count - r.Sum());
        c[^1] = Math.Max(0, current.Count - c.Sum());
        return (r, c);
    }

    private static double[] Shares(double[] counts)
    {
        var total = counts.Sum();
        return counts.Select(x => total > 0 ? x / total : 0).ToArray();
    }

    /// <summary>Pearson's chi-square test of homogeneity on a 2 × K table (empty columns dropped): statistic and p-value.</summary>
    public static (double Statistic, double PValue) ChiSquareHomogeneity(IReadOnlyList<double> reference, IReadOnlyList<double> current)
    {
        double n1 = reference.Sum(), n2 = current.Sum();
        var total = n1 + n2;
        double statistic = 0;
        var columns = 0;
        for (var i = 0; i < reference.Count; i++)
        {
            var column = reference[i] + current[i];
            if (column <= 0) continue;
            columns++;
            var e1 = n1 * column / total;
            var e2 = n2 * column / total;
            statistic += (reference[i] - e1) * (reference[i] - e1) / e1 + (current[i] - e2) * (current[i] - e2) / e2;
        }

        return columns < 2 || n1 == 0 || n2 == 0 ? (0, 1) : (statistic, ChiSquareSurvival(statistic, columns - 1));
    }

    /// <summary>P(X ≥ x) for a chi-square variable with <paramref name="degrees"/> degrees of freedom.</summary>
    public static double ChiSquareSurvival(double x, int degrees) => x <= 0 ? 1 : Privacy.SpecialFunctions.UpperRegularizedGamma(degrees / 2.0, x / 2);

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
        return Psi(r, c);
    }

    /// <summary>PSI of two share vectors of the same bins.</summary>
    public static double Psi(IReadOnlyList<double> r, IReadOnlyList<double> c)
    {
        double psi = 0;
        for (var i = 0; i < r.Count; i++)
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
        return JensenShannon(r, c);
    }

    /// <summary>Jensen–Shannon distance of two share vectors of the same bins.</summary>
    public static double JensenShannon(IReadOnlyList<double> r, IReadOnlyList<double> c)
    {
        double divergence = 0;
        for (var i = 0; i < r.Count; i++)
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
