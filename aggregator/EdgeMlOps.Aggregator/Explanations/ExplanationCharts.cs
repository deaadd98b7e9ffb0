using System.Globalization;

namespace EdgeMlOps.Aggregator.Explanations;

/// <summary>
/// Charts of an explanation for the Markdown model card: Unicode bars and sparklines (the HTML card draws them with
/// ScottPlot, <see cref="Governance.CardCharts"/>).
/// </summary>
public static class ExplanationCharts
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private const string Sparks = "▁▂▃▄▅▆▇█";

    /// <summary>A bar of eighths, <paramref name="width"/> characters for the largest value.</summary>
    public static string Bar(double value, double largest, int width = 20)
    {
        if (!(largest > 0) || !(value > 0)) return string.Empty;
        var eighths = (int)Math.Round(Math.Min(1, value / largest) * width * 8);
        return new string('█', eighths / 8) + (eighths % 8 > 0 ? "▏▎▍▌▋▊▉"[(eighths % 8) - 1].ToString() : string.Empty);
    }

    /// <summary>A sparkline of the values, low to high mapped onto eight block heights.</summary>
    public static string Sparkline(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return string.Empty;
        var low = values.Min();
        var high = values.Max();
        var range = high - low;
        return string.Concat(values.Select(v => Sparks[range > 1e-12 ? (int)Math.Round((v - low) / range * 7) : 0]));
    }
}
