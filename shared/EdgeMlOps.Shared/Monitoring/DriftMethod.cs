namespace EdgeMlOps.Shared.Monitoring;

/// <summary>The statistic that judges a feature's drift (<c>Monitoring:Drift:Method</c>).</summary>
public enum DriftMethod
{
    /// <summary>Evidently's choice by sample size: KS up to <c>KsMaxCount</c> reference values, normed Wasserstein above (chi-square and Jensen–Shannon for categorical features).</summary>
    Auto,
    Ks,
    Wasserstein,
    Psi,
    JensenShannon,
    ChiSquare,
}

/// <summary>The names a drift method is configured by and reported under (<see cref="FeatureDrift.Method"/>, the <c>method</c> label of /metrics).</summary>
public static class DriftMethods
{
    private static readonly (DriftMethod Method, string Name)[] Names =
    [
        (DriftMethod.Auto, "auto"), (DriftMethod.Ks, "ks"), (DriftMethod.Wasserstein, "wasserstein"), (DriftMethod.Psi, "psi"),
        (DriftMethod.JensenShannon, "jensenshannon"), (DriftMethod.ChiSquare, "chisquare"),
    ];

    /// <summary>Every name, in the order of the enum ("auto, ks, …").</summary>
    public static string All => string.Join(", ", Names.Select(n => n.Name));

    public static string Name(this DriftMethod method) => Names.First(n => n.Method == method).Name;

    public static bool TryParse(string text, out DriftMethod method)
    {
        foreach (var (m, name) in Names)
        {
            if (!string.Equals(name, text, StringComparison.Ordinal)) continue;
            method = m;
            return true;
        }

        method = DriftMethod.Auto;
        return false;
    }

    public static DriftMethod Parse(string text) => TryParse(text, out var method) ? method : throw new FormatException($"'{text}' is not a drift method ({All})");
}
