using System.Buffers.Binary;
using System.Xml.Linq;

namespace EdgeMlOps.Simulator.Tests;

public class ResultChartsTests
{
    [Fact]
    public void ARun_IsDrawnAsSvgAndPng_BesideItsResults()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-charts-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var rounds = Enumerable.Range(1, 6).Select(i => new RoundResult(i, "Completed", (ulong)i + 1, 0.5 + i * 0.05, 1.0 / i, 0.9 / i, 10, 12, i % 2, new Dictionary<string, long>(), 40_000 * i, 400_000, 0.5)).ToList();
        var result = new SimulationResult(new SimulationOptions { Dataset = "mnist", Devices = 100 }, rounds, 0.8, 0.17, 3, 3, 1.5, 100, 0, 1);

        var files = ResultCharts.Write(result, Path.Combine(dir, "results.json"));

        Assert.Equal(["results-accuracy", "results-bytes", "results-devices"], files.Where(f => f.EndsWith(".svg", StringComparison.Ordinal)).Select(Path.GetFileNameWithoutExtension));
        var svg = XDocument.Load(Path.Combine(dir, "results-accuracy.svg"));
        Assert.Equal("svg", svg.Root!.Name.LocalName);
        var text = string.Concat(svg.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value));
        Assert.Contains("Held-out accuracy and loss per round (mnist, 100 devices, fedavg)", text, StringComparison.Ordinal);
        Assert.Contains("loss (right axis)", text, StringComparison.Ordinal);

        var png = File.ReadAllBytes(Path.Combine(dir, "results-devices.png"));
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4e, 0x47 }, png[..4]);
        Assert.Equal(ResultCharts.Width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));
        Assert.Equal(ResultCharts.Height, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20, 4)));

        // A run with a model line draws the line's accuracy beside the first model's.
        var withLine = result with { Lines = [new LineResult("kws", "mlp-12-16-3", 0.44, [.. rounds.Select(r => new LineRoundResult(r.Round, "Completed", r.Version, r.Accuracy - 0.1, 6, 6, 0))])] };
        ResultCharts.Write(withLine, Path.Combine(dir, "lines.json"));
        var legend = string.Concat(XDocument.Load(Path.Combine(dir, "lines-accuracy.svg")).Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value));
        Assert.Contains("accuracy (line kws)", legend, StringComparison.Ordinal);
        Assert.Contains("accuracy (mnist)", legend, StringComparison.Ordinal);
    }
}
