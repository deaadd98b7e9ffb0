using EdgeMlOps.Aggregator.Explanations;
using EdgeMlOps.Aggregator.Registry;
using ScottPlot;

namespace EdgeMlOps.Aggregator.Governance;

/// <summary>
/// The model card's pictures, drawn with ScottPlot as inline SVG for the HTML card: the version's curves over its
/// lineage (held-out accuracy and mean training loss per version), permutation importance with ±1 std error bars,
/// and partial-dependence curves. Numbers only: nothing a device sent beyond the aggregates the card already lists.
/// </summary>
public static class CardCharts
{
    public const int Width = 560;
    public const int Height = 300;

    /// <summary>Held-out accuracy and training loss of each version of a lineage (oldest first); null with fewer than two points.</summary>
    public static string? Lineage(IReadOnlyList<ModelVersionRecord> lineage)
    {
        var versions = lineage.OrderBy(v => v.Version).ToArray();
        var accuracy = versions.Where(v => v.EvalAccuracy is { } a && double.IsFinite(a)).ToArray();
        var loss = versions.Where(v => v.TrainLoss is { } l && double.IsFinite(l)).ToArray();
        if (accuracy.Length < 2 && loss.Length < 2) return null;
        var plot = new Plot();
        if (accuracy.Length > 0)
        {
            var line = plot.Add.Scatter(accuracy.Select(v => (double)v.Version).ToArray(), accuracy.Select(v => v.EvalAccuracy!.Value).ToArray());
            line.LegendText = "held-out accuracy";
        }

        if (loss.Length > 0)
        {
            var line = plot.Add.Scatter(loss.Select(v => (double)v.Version).ToArray(), loss.Select(v => v.TrainLoss!.Value).ToArray());
            line.LegendText = "devices' training loss (right axis)";
            line.Axes.YAxis = plot.Axes.Right;
            plot.Axes.Right.Label.Text = "loss";
        }

        plot.Axes.Left.Label.Text = "accuracy";
        return Svg(plot, $"Versions v{versions[0].Version}–v{versions[^1].Version} of this lineage", "version", Width, Height);
    }

    /// <summary>Bars of the most important inputs (accuracy lost when shuffled) with ±1 std error bars.</summary>
    public static string Importance(IReadOnlyList<InputImportance> top)
    {
        var plot = new Plot();
        var positions = Enumerable.Range(0, top.Count).Select(i => (double)(top.Count - i)).ToArray();
        var bars = plot.Add.Bars(top.Select((i, k) => new Bar { Position = positions[k], Value = i.Mean, Error = i.StdDev }).ToArray());
        bars.Horizontal = true;
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions, top.Select(i => $"input {i.Input}").ToArray());
        return Svg(plot, "Permutation importance", "accuracy lost", Width, Math.Max(200, 60 + 22 * top.Count));
    }

    /// <summary>One partial-dependence curve: the plotted class's mean probability over the input's grid.</summary>
    public static string Dependence(DependenceCurve curve)
    {
        var plot = new Plot();
        plot.Add.Scatter(curve.Grid.Select(g => (double)g).ToArray(), curve.Average.Select(p => p[curve.PlottedClass]).ToArray());
        plot.Axes.Left.Label.Text = $"P(class {curve.PlottedClass})";
        return Svg(plot, $"Partial dependence on input {curve.Input}", $"input {curve.Input}", 280, 200);
    }

    private static string Svg(Plot plot, string title, string xLabel, int width, int height)
    {
        plot.Title(title);
        plot.Axes.Bottom.Label.Text = xLabel;
        if (plot.GetPlottables().Any(p => p is ScottPlot.Plottables.Scatter { LegendText.Length: > 0 })) plot.ShowLegend();
        var svg = plot.GetSvgXml(width, height);
        // Inline in HTML: no XML declaration; named for screen readers.
        if (svg.StartsWith("<?xml", StringComparison.Ordinal)) svg = svg[(svg.IndexOf("?>", StringComparison.Ordinal) + 2)..].TrimStart();
        var open = svg.IndexOf("<svg", StringComparison.Ordinal) + "<svg".Length;
        return svg[..open] + $" role=\"img\" aria-label=\"{System.Net.WebUtility.HtmlEncode(title)}\"" + svg[open..];
    }
}
