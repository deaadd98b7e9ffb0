using System.Xml.Linq;
using EdgeMlOps.Aggregator.Explanations;
using EdgeMlOps.Aggregator.Governance;

namespace EdgeMlOps.Aggregator.Tests.Governance;

/// <summary>The HTML model card's pictures, drawn by ScottPlot: the lineage's curves and the explanation charts.</summary>
public sealed class CardChartsTests
{
    private static string Texts(string svg) =>
        string.Concat(XDocument.Parse(svg).Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value + "\n"));

    [Fact]
    public async Task TheHtmlCard_DrawsTheVersionsCurvesOverItsLineage()
    {
        await using var node = new AggregatorNode(AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1));
        var v1 = node.CurrentVersion;
        for (ulong v = 2; v <= 4; v++)
        {
            node.Registry.AddVersion(v1 with { Version = v, Parent = v - 1, Round = (long)v - 1, EvalAccuracy = 0.5 + 0.1 * v, TrainLoss = 1.0 / v });
        }

        var card = ModelCard.Build(node.Registry, node.Options, node.Monitor, node.Registry.Version(v1.Model, 4)!, artifacts: node.Artifacts);
        var lineage = card.Html[card.Html.IndexOf("<h2>Lineage</h2>", StringComparison.Ordinal)..];
        var svg = lineage[lineage.IndexOf("<svg", StringComparison.Ordinal)..(lineage.IndexOf("</svg>", StringComparison.Ordinal) + "</svg>".Length)];
        var texts = Texts(svg);
        Assert.Contains("Versions v1–v4 of this lineage", texts, StringComparison.Ordinal);
        Assert.Contains("held-out accuracy", texts, StringComparison.Ordinal);
        Assert.Contains("devices' training loss (right axis)", texts, StringComparison.Ordinal);
        Assert.DoesNotContain("<?xml", card.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("<svg", card.Markdown, StringComparison.Ordinal); // the Markdown card keeps its table

        // A single version has no curve to draw.
        Assert.Null(CardCharts.Lineage([v1]));
    }

    [Fact]
    public void ExplanationCharts_AreScottPlotSvg_NamingTheirInputs()
    {
        var importance = Texts(CardCharts.Importance([new InputImportance(3, 0.12, 0.02), new InputImportance(7, 0.05, 0.01)]));
        Assert.Contains("Permutation importance", importance, StringComparison.Ordinal);
        Assert.Contains("input 3", importance, StringComparison.Ordinal);
        Assert.Contains("input 7", importance, StringComparison.Ordinal);

        var dependence = Texts(CardCharts.Dependence(new DependenceCurve(5, 1, [0f, 0.5f, 1f], [[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])));
        Assert.Contains("Partial dependence on input 5", dependence, StringComparison.Ordinal);
        Assert.Contains("P(class 1)", dependence, StringComparison.Ordinal);
    }
}
