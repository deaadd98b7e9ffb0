using System.Globalization;
using System.Net;
using System.Text;

namespace EdgeMlOps.Aggregator.Explanations;

/// <summary>
/// Charts of an explanation for model cards: inline SVG for the HTML card (bars with ±1 std whiskers for importance,
/// one small line chart per partial-dependence curve) and Unicode bars and sparklines for the Markdown card.
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

    /// <summary>Horizontal bars of the most important inputs with ±1 std whiskers.</summary>
    public static string ImportanceSvg(IReadOnlyList<InputImportance> top)
    {
        const int Left = 70, Width = 360, RowHeight = 18, Top = 8;
        var largest = Math.Max(1e-9, top.Max(i => i.Mean + i.StdDev));
        var height = Top + top.Count * RowHeight + 24;
        var svg = new StringBuilder();
        svg.Append(Inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Left + Width + 70}\" height=\"{height}\" role=\"img\" aria-label=\"Permutation importance\" font-family=\"sans-serif\" font-size=\"11\">");
        for (var i = 0; i < top.Count; i++)
        {
            var y = Top + i * RowHeight;
            var w = Math.Max(0, top[i].Mean) / largest * Width;
            var lo = Math.Max(0, top[i].Mean - top[i].StdDev) / largest * Width;
            var hi = (top[i].Mean + top[i].StdDev) / largest * Width;
            svg.Append(Inv, $"<text x=\"{Left - 6}\" y=\"{y + 12}\" text-anchor=\"end\">input {top[i].Input}</text>");
            svg.Append(Inv, $"<rect x=\"{Left}\" y=\"{y + 2}\" width=\"{w:F1}\" height=\"{RowHeight - 5}\" fill=\"#4a7ab5\"/>");
            svg.Append(Inv, $"<line x1=\"{Left + lo:F1}\" x2=\"{Left + hi:F1}\" y1=\"{y + 8}\" y2=\"{y + 8}\" stroke=\"#222\"/>");
            svg.Append(Inv, $"<text x=\"{Left + hi + 4:F1}\" y=\"{y + 12}\">{top[i].Mean:F4}</text>");
        }

        var axis = Top + top.Count * RowHeight + 4;
        svg.Append(Inv, $"<line x1=\"{Left}\" x2=\"{Left + Width}\" y1=\"{axis}\" y2=\"{axis}\" stroke=\"#888\"/>");
        svg.Append(Inv, $"<text x=\"{Left}\" y=\"{axis + 14}\">0</text><text x=\"{Left + Width}\" y=\"{axis + 14}\" text-anchor=\"end\">accuracy lost {largest:F3}</text>");
        return svg.Append("</svg>").ToString();
    }

    /// <summary>One partial-dependence curve (the plotted class's mean probability over the grid).</summary>
    public static string DependenceSvg(DependenceCurve curve)
    {
        const int Width = 240, Height = 150, Left = 40, Right = 10, Top = 20, Bottom = 30;
        var values = curve.Average.Select(p => p[curve.PlottedClass]).ToArray();
        var (xLow, xHigh) = (curve.Grid.Min(), curve.Grid.Max());
        var (yLow, yHigh) = (Math.Min(values.Min(), 0), Math.Max(values.Max(), 1e-9));
        double X(double x) => Left + (xHigh > xLow ? (x - xLow) / (xHigh - xLow) : 0.5) * (Width - Left - Right);
        double Y(double y) => Top + (1 - (y - yLow) / (yHigh - yLow)) * (Height - Top - Bottom);
        var points = string.Join(' ', curve.Grid.Select((g, i) => string.Create(Inv, $"{X(g):F1},{Y(values[i]):F1}")));
        var svg = new StringBuilder();
        svg.Append(Inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" role=\"img\" aria-label=\"Partial dependence on input {curve.Input}\" font-family=\"sans-serif\" font-size=\"10\">");
        svg.Append(Inv, $"<text x=\"{Left}\" y=\"12\">input {curve.Input} → P(class {curve.PlottedClass})</text>");
        svg.Append(Inv, $"<line x1=\"{Left}\" x2=\"{Left}\" y1=\"{Top}\" y2=\"{Height - Bottom}\" stroke=\"#888\"/><line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{Height - Bottom}\" y2=\"{Height - Bottom}\" stroke=\"#888\"/>");
        svg.Append(Inv, $"<text x=\"{Left - 4}\" y=\"{Top + 4}\" text-anchor=\"end\">{yHigh:F2}</text><text x=\"{Left - 4}\" y=\"{Height - Bottom}\" text-anchor=\"end\">{yLow:F2}</text>");
        svg.Append(Inv, $"<text x=\"{Left}\" y=\"{Height - Bottom + 14}\">{xLow:G3}</text><text x=\"{Width - Right}\" y=\"{Height - Bottom + 14}\" text-anchor=\"end\">{xHigh:G3}</text>");
        svg.Append(Inv, $"<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"1.5\" points=\"{WebUtility.HtmlEncode(points)}\"/>");
        return svg.Append("</svg>").ToString();
    }
}
