using ScottPlot;

namespace EdgeMlOps.Simulator;

/// <summary>
/// The run's charts, next to <c>results.json</c> (ScottPlot, SVG and PNG): held-out accuracy and loss per
/// round (with each model line's accuracy beside the first model's), bytes up and down per round, and devices selected,
/// participating and rejected per round.
/// </summary>
public static class ResultCharts
{
    public const int Width = 800;
    public const int Height = 480;

    /// <summary>Writes the charts beside <paramref name="resultsPath"/>; returns the files written.</summary>
    public static IReadOnlyList<string> Write(SimulationResult result, string resultsPath)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(resultsPath))!;
        var stem = Path.Combine(directory, Path.GetFileNameWithoutExtension(resultsPath));
        var rounds = result.Rounds.Select(r => (double)r.Round).ToArray();
        var title = $"{result.Options.Dataset}, {result.Options.Devices} devices, {result.Options.Strategy}";
        var files = new List<string>();

        files.AddRange(Save(stem + "-accuracy", $"Held-out accuracy and loss per round ({title})", plot =>
        {
            var accuracy = plot.Add.Scatter(rounds, result.Rounds.Select(r => r.Accuracy).ToArray());
            accuracy.LegendText = result.Lines.Count > 0 ? $"accuracy ({result.Options.Dataset})" : "accuracy";
            foreach (var line in result.Lines)
            {
                plot.Add.Scatter(line.Rounds.Select(r => (double)r.Round).ToArray(), line.Rounds.Select(r => r.Accuracy).ToArray()).LegendText = $"accuracy (line {line.Name})";
            }

            var loss = plot.Add.Scatter(rounds, result.Rounds.Select(r => r.Loss).ToArray());
            loss.LegendText = "loss (right axis)";
            loss.Axes.YAxis = plot.Axes.Right;
            plot.Axes.Left.Label.Text = "accuracy";
            plot.Axes.Right.Label.Text = "loss";
        }));

        files.AddRange(Save(stem + "-bytes", $"Traffic per round ({title})", plot =>
        {
            plot.Add.Scatter(rounds, result.Rounds.Select(r => r.BytesUp / 1e6).ToArray()).LegendText = "up (MB)";
            plot.Add.Scatter(rounds, result.Rounds.Select(r => r.BytesDown / 1e6).ToArray()).LegendText = "down (MB)";
            plot.Axes.Left.Label.Text = "MB";
        }));

        files.AddRange(Save(stem + "-devices", $"Devices per round ({title})", plot =>
        {
            plot.Add.Scatter(rounds, result.Rounds.Select(r => (double)r.Selected).ToArray()).LegendText = "selected";
            plot.Add.Scatter(rounds, result.Rounds.Select(r => (double)r.Participants).ToArray()).LegendText = "participated";
            plot.Add.Scatter(rounds, result.Rounds.Select(r => (double)r.Rejected).ToArray()).LegendText = "updates rejected";
            plot.Axes.Left.Label.Text = "devices";
        }));

        return files;
    }

    private static string[] Save(string stem, string title, Action<Plot> draw)
    {
        var plot = new Plot();
        draw(plot);
        plot.Title(title);
        plot.Axes.Bottom.Label.Text = "round";
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.ShowLegend();
        plot.SaveSvg(stem + ".svg", Width, Height);
        plot.SavePng(stem + ".png", Width, Height);
        return [stem + ".svg", stem + ".png"];
    }
}
