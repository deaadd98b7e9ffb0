using System.Globalization;
using Section = EdgeMlOps.Aggregator.Governance.ModelCard.Section;

namespace EdgeMlOps.Aggregator.Explanations;

/// <summary>The model card's sections on what a version relies on and how it does for each subpopulation.</summary>
internal static class ExplanationCardSections
{
    /// <summary>
    /// What the version relies on: permutation importance and partial dependence on the held-out data, and permutation
    /// importance measured privately on devices' own rows (federated evaluation) where it was asked for.
    /// </summary>
    public static Section Explanations(VersionExplanation? e, Evaluation.FederatedImportance? fleet, ExplanationOptions options, CultureInfo inv)
    {
        const string Title = "Explanations";
        if (e is null && fleet is null)
        {
            return new(Title, ["No explanation: the aggregator has no held-out evaluation data (Aggregator:Evaluation:DataFile) to measure what this version relies on, and no federated evaluation measured it on devices."]);
        }

        var onDevices = fleet?.Importance.ToDictionary(i => i.Input, i => i.Mean) ?? [];
        var top = e?.Top(options.TopInputs) ?? fleet!.Importance.OrderByDescending(i => i.Mean).ThenBy(i => i.Input).Take(options.TopInputs).ToArray();
        var largest = top.Count > 0 ? top.Max(i => e is null ? i.Mean : Math.Max(i.Mean, onDevices.GetValueOrDefault(i.Input))) : 0;
        string F(double x) => double.IsFinite(x) ? x.ToString("F4", inv) : "-";
        var rows = top.Select((i, rank) => (IReadOnlyList<string>)[(rank + 1).ToString(inv), i.Input.ToString(inv), e is null ? "-" : F(i.Mean), e is null ? "-" : F(i.StdDev),
            onDevices.TryGetValue(i.Input, out var d) ? F(d) : "-", ExplanationCharts.Bar(i.Mean, largest)]).ToList();
        foreach (var c in e?.Dependence ?? [])
        {
            var values = c.Average.Select(p => p[c.PlottedClass]).ToArray();
            rows.Add(["PDP", c.Input.ToString(inv), string.Create(inv, $"class {c.PlottedClass}"), string.Create(inv, $"{values.First():F3} → {values.Last():F3} over [{c.Grid.First():G3}, {c.Grid.Last():G3}]"), "-", ExplanationCharts.Sparkline(values)]);
        }

        foreach (var c in fleet?.Dependence ?? [])
        {
            var values = c.Average.Select(p => p[c.PlottedClass]).ToArray();
            rows.Add(["PDP on devices", c.Input.ToString(inv), string.Create(inv, $"class {c.PlottedClass}"), string.Create(inv, $"{values.First():F3} → {values.Last():F3} over [{c.Grid.First():G3}, {c.Grid.Last():G3}]"), "-", ExplanationCharts.Sparkline(values)]);
        }

        var paragraphs = new List<string>();
        if (e is not null)
        {
            paragraphs.Add(string.Create(inv, $"Permutation importance: accuracy lost when one input is shuffled across {e.Rows} of the {e.HeldOutRows} held-out rows ({e.Repeats} shuffles each, seed {e.Seed}; accuracy unshuffled {e.BaselineAccuracy:F4}). The {top.Count} most important inputs are listed with their spread."));
            paragraphs.Add("Partial dependence (rows marked PDP): the mean probability of the class that moves most as the input sweeps its 5th–95th percentile range, all other inputs as they are; the sparkline is drawn low to high across that range.");
        }

        paragraphs.Add(fleet is null
            ? "On devices: not measured (a federated evaluation with importance inputs measures it on devices' own rows)."
            : string.Create(inv, $"On devices: measured by {fleet.Devices} devices on {fleet.Rows} of their own labelled rows (accuracy {fleet.Accuracy:F4}): permutation importance from counts of right answers{(fleet.Dependence.Count > 0 ? ", partial dependence (rows marked 'PDP on devices') from summed probabilities on a grid placed by the training-sample sketches" : string.Empty)}; none of their rows left them."));
        paragraphs.Add("Stored with the version. Individual predictions are explained on the device (POST /v1/explain: Shapley values; POST /v1/whatif).");

        var svg = new List<string>();
        if (top.Count > 0) svg.Add(Governance.CardCharts.Importance(top));
        svg.AddRange((e?.Dependence ?? []).Select(Governance.CardCharts.Dependence));
        svg.AddRange((fleet?.Dependence ?? []).Select(Governance.CardCharts.Dependence));
        return new(Title, paragraphs, ["Rank", "Input", "Importance", "Std", "On devices", "Chart"], rows, svg);
    }

    /// <summary>Metrics per cohort and per declared attribute value on the held-out data, and the gaps between an attribute's groups.</summary>
    public static Section Subpopulations(VersionExplanation? e, CultureInfo inv)
    {
        const string Title = "Subpopulations";
        if (e is null || e.Subgroups.Count == 0) return new(Title, ["No subpopulation analysis: it runs on the aggregator's held-out data (cohorts and declared attributes per row), which this aggregator does not have."]);
        string F(double? x) => x is { } d && double.IsFinite(d) ? d.ToString("F4", inv) : "-";
        var rows = e.Subgroups.Select(g => (IReadOnlyList<string>)[g.Group, g.Samples.ToString(inv), F(g.Accuracy), F(g.MacroPrecision), F(g.MacroRecall), F(g.CalibrationError), F(g.SelectionRate)]).ToList();
        var paragraphs = new List<string>
        {
            string.Create(inv, $"On all {e.HeldOutRows} held-out rows, per cohort and per value of each declared attribute: accuracy, macro precision and recall over the classes present, expected calibration error (10 confidence bins) and, for two classes, the selection rate (share predicted class 1)."),
        };
        paragraphs.AddRange(e.Gaps.Count == 0
            ? ["No attribute has two groups with enough rows to compare."]
            : e.Gaps.Select(g => string.Create(inv, $"Gap in {g.Metric} across {g.Attribute}: {g.Gap:F4} (lowest {g.Lowest}, highest {g.Highest}).")));
        return new(Title, paragraphs, ["Group", "Samples", "Accuracy", "Macro precision", "Macro recall", "Calibration error", "Selection rate"], rows);
    }
}
