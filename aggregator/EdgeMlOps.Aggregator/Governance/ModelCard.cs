using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using EdgeMlOps.Aggregator.Registry;

namespace EdgeMlOps.Aggregator.Governance;

/// <summary>
/// A model card (Mitchell et al. 2019) for a registered version, in Markdown and HTML, built from
/// the registry: details, intended use, factors and cohorts, metrics overall and per cohort,
/// training data summary (counts only: raw data never reaches the aggregator), lineage, caveats.
/// </summary>
public sealed record ModelCard(string Markdown, string Html)
{
    // Svg: charts drawn by the card itself (numbers only), shown in the HTML card after the table.
    internal sealed record Section(string Title, IReadOnlyList<string>? Paragraphs = null, IReadOnlyList<string>? Header = null, IReadOnlyList<IReadOnlyList<string>>? Rows = null, IReadOnlyList<string>? Svg = null);

    /// <summary>
    /// What the round that made a version says about privacy (DP-FedAvg notes its clip on every round), or null when it
    /// was not trained under DP. ε is stored only when finite: a DP round without noise has no guarantee.
    /// </summary>
    internal static string? PrivacyCaveat(IReadOnlyDictionary<string, double>? notes)
    {
        if (notes is null || !notes.ContainsKey("dp.clip_norm")) return null;
        if (!notes.TryGetValue("dp.epsilon", out var epsilon))
        {
            return "Trained with DP-FedAvg's clipping but without noise: no differential-privacy guarantee (epsilon is unbounded).";
        }

        var delta = notes.TryGetValue("dp.delta", out var d) ? d.ToString("G3", CultureInfo.InvariantCulture) : "unknown";
        return string.Create(CultureInfo.InvariantCulture, $"Trained with user-level differential privacy (DP-FedAvg): epsilon {epsilon:F2} at delta {delta} spent by the round that made this version.");
    }

    public static ModelCard Build(ModelRegistry registry, AggregatorOptions options, Monitoring.FleetMonitor monitor, ModelVersionRecord v, Explanations.VersionExplanation? explanation = null, Evaluation.FederatedImportance? fleetImportance = null, Registry.ArtifactStore? artifacts = null)
    {
        var inv = CultureInfo.InvariantCulture;
        var round = registry.RoundOf(v.Model, v.Version);
        var cohorts = registry.Evaluation(v.Model, v.Version) is { } json
            ? JsonSerializer.Deserialize(json, GovernanceJson.Default.IReadOnlyListCohortComparison) ?? []
            : [];
        var lineage = new List<IReadOnlyList<string>>();
        var ancestors = new List<ModelVersionRecord>();
        for (var at = (ModelVersionRecord?)v; at is not null && ancestors.Count < LineageCharted; at = at.Parent > 0 ? registry.Version(v.Model, at.Parent) : null)
        {
            ancestors.Add(at);
            if (lineage.Count >= 10) continue;
            lineage.Add([$"v{at.Version}", at.Parent > 0 ? $"v{at.Parent}" : "-", at.Round.ToString(inv), at.Contributors.ToString(inv), at.Samples.ToString(inv), at.State, at.CreatedAt.ToString("u", inv)]);
        }

        string F(double? x) => x is { } d && double.IsFinite(d) ? d.ToString("F4", inv) : "-";
        var caveats = new List<string>
        {
            "Metrics on this card come from the aggregator's held-out evaluation data (if configured) and device-reported aggregates; no raw device data was used or stored.",
            "Cohorts with fewer evaluation samples than the configured minimum are shown but were not gated.",
        };
        if (v.StateReason is { } reason) caveats.Add($"Registry state {v.State}: {reason}.");
        if (PrivacyCaveat(round?.Notes) is { } privacy) caveats.Add(privacy);
        if (cohorts.Count == 0) caveats.Add("No per-cohort evaluation was recorded for this version.");

        var sections = new List<Section>
        {
            new("Model details", Header: ["Field", "Value"], Rows:
            [
                ["Model", v.Model], ["Version", v.Version.ToString(inv)], ["Parent version", v.Parent.ToString(inv)],
                ["Architecture", options.Model.ToString()], ["Created", v.CreatedAt.ToString("u", inv)], ["Created by", v.CreatedBy],
                ["Registry state", v.State], ["Inference artifact", $"model.onnx sha256 {v.InferenceSha256} ({v.InferenceSize} bytes)"],
                ["Train-step artifact", v.TrainStepSha256.Length > 0 ? $"train_step.onnx sha256 {v.TrainStepSha256} ({v.TrainStepSize} bytes)" : "none: the fleet serves this model without training it"],
            ]),
            new("Intended use", [options.Governance.IntendedUse]),
            artifacts is null || v.ArtifactsPrunedAt is not null
                ? new("Interface and training", [v.ArtifactsPrunedAt is { } pruned
                    ? $"The version's artifacts were pruned on {pruned.ToString("u", inv)} by the registry's retention (Registry:KeepVersions); their sha256 above still identify them."
                    : "The version's artifacts were not available to describe."])
                : InterfaceCardSection.For(artifacts.Read(v.InferenceSha256), v.TrainStepSha256.Length > 0 ? artifacts.Read(v.TrainStepSha256) : null, options.Model),
            new("Factors and cohorts", [cohorts.Count > 0
                ? "Evaluated per cohort of the aggregator's evaluation data (subpopulation analysis); the validation gate compares each cohort with the live version."
                : "No cohort evaluation recorded."]),
            new("Metrics", Header: ["Cohort", "Samples", "Accuracy", "Live accuracy", "Change", "Gated"], Rows:
                cohorts.Count > 0
                    ? cohorts.Select(c => (IReadOnlyList<string>)[c.Cohort, c.Samples.ToString(inv), F(c.Candidate), F(c.Live), F(c.Delta), c.Gated ? "yes" : "no"]).ToList()
                    : [["all", "-", F(v.EvalAccuracy), "-", "-", "no"]]),
            new("Training data", Header: ["Figure", "Value"], Rows:
            [
                ["Round", v.Round.ToString(inv)], ["Contributing devices", v.Contributors.ToString(inv)], ["Labelled samples (on devices)", v.Samples.ToString(inv)],
                ["Mean local training loss", F(v.TrainLoss)], ["Devices selected", round?.Selected.ToString(inv) ?? "-"], ["Updates rejected", round?.Rejected.ToString(inv) ?? "-"],
            ]),
            ReferenceSection(monitor.Reference(v.Version), v.ArtifactsPrunedAt is not null, inv),
            Explanations.ExplanationCardSections.Explanations(explanation, fleetImportance, options.Governance.Explain, inv),
            Explanations.ExplanationCardSections.Subpopulations(explanation, inv),
            new("Lineage", Header: ["Version", "Parent", "Round", "Devices", "Samples", "State", "Created"], Rows: lineage,
                Svg: CardCharts.Lineage(ancestors) is { } curves ? [curves] : null),
            new("Caveats and recommendations", caveats),
        };
        if (options.Model.Graph?.Tasks is { Count: > 0 } tasks) // a multi-task model: each task's held-out figures beside the primary's accuracy
        {
            sections.Insert(sections.FindIndex(x => x.Title == "Metrics") + 1, new("Tasks", Header: ["Task", "Kind", "Weight", "Held-out loss", "Held-out score"], Rows: [.. tasks.Select((t, i) => (IReadOnlyList<string>)[
                t.Output, t.Kind switch { Shared.Models.ModelTaskKind.Classes => $"classes ({t.Classes}): cross-entropy, accuracy", Shared.Models.ModelTaskKind.Labels => $"labels ({t.Labels}): binary cross-entropy, label accuracy", Shared.Models.ModelTaskKind.Positions or Shared.Models.ModelTaskKind.Tags => $"{t.Kind.ToString().ToLowerInvariant()} ({t.Classes} classes at {t.Width}): cross-entropy per position, position accuracy", _ => $"regression ({t.Width} values): MSE, R²" }, t.Weight.ToString(inv),
                F(v.TaskScores?.ElementAtOrDefault(i)?.Loss), F(v.TaskScores?.ElementAtOrDefault(i)?.Score)])]));
        }

        return new ModelCard(RenderMarkdown(v, sections), RenderHtml(v, sections));
    }

    /// <summary>Most versions of the lineage drawn in the card's curves (the table lists the last 10).</summary>
    private const int LineageCharted = 200;

    /// <summary>Most features listed in the card's profile table (the widest spread first).</summary>
    private const int ProfiledFeaturesShown = 20;

    /// <summary>
    /// The version's reference profile: merged from the sketches devices attached to their updates, so
    /// it describes the training data without any of it having left the devices.
    /// </summary>
    private static Section ReferenceSection(EdgeMlOps.Shared.Monitoring.WindowProfile? reference, bool pruned, CultureInfo inv)
    {
        const string Title = "Training data profile";
        if (pruned && reference is null) return new(Title, ["Its reference profile was pruned with its artifacts (Registry:KeepVersions)."]);
        if (reference is null || reference.Features.All(f => f.Count == 0))
        {
            return new(Title, ["No reference profile: no device attached sketches of its training samples to this version's round (see Monitoring:ReferenceDevicesPerRound)."]);
        }

        string F(double x) => double.IsFinite(x) ? x.ToString("G4", inv) : "-";
        var labels = reference.PredictedClasses;
        var labelled = labels.Sum();
        var shown = reference.Features.Select((f, i) => (Feature: f, Index: i))
            .OrderByDescending(x => x.Feature.IsCategorical ? double.MaxValue : x.Feature.StdDev).ThenBy(x => x.Index)
            .Take(ProfiledFeaturesShown).OrderBy(x => x.Index).ToArray();
        var rows = shown.Select(x =>
        {
            var f = x.Feature;
            if (f.Categories is { } categories)
            {
                var top = string.Join(", ", categories.Items.Take(5).Select(c => string.Create(inv, $"{c.Key}: {(double)c.Value / Math.Max(1, f.Count):P1}")));
                return (IReadOnlyList<string>)[x.Index.ToString(inv), "categorical", f.Count.ToString(inv), f.Missing.ToString(inv), "-", "-", top, "-", "-"];
            }

            var q = f.Sketch.Quantiles([0.05, 0.5, 0.95]);
            return [x.Index.ToString(inv), "numeric", f.Count.ToString(inv), f.Missing.ToString(inv), F(f.Mean), F(f.StdDev), F(q[0]), F(q[1]), F(q[2])];
        }).ToList();
        var paragraphs = new List<string>
        {
            string.Create(inv, $"Sketched on the devices that trained this version (KLL quantiles, frequent categories, moments) and merged on the aggregator: {reference.Features[0].Count + reference.Features[0].Missing + reference.Features[0].NonFinite} training rows profiled. Drift of served traffic is tested against this profile."),
            labelled > 0
                ? "Label shares of the profiled rows: " + string.Join(", ", labels.Select((c, i) => string.Create(inv, $"{i}: {(double)c / labelled:P1}")).ToArray()) + "."
                : "No label counts in the profile.",
            shown.Length < reference.Features.Length
                ? string.Create(inv, $"The table lists {shown.Length} of {reference.Features.Length} inputs: categorical ones and those with the widest spread. For categorical inputs the p5 column lists the most frequent categories.")
                : "For categorical inputs the p5 column lists the most frequent categories.",
        };
        return new(Title, paragraphs, ["Input", "Kind", "Count", "Missing", "Mean", "Std", "p5", "p50", "p95"], rows);
    }

    private static string RenderMarkdown(ModelVersionRecord v, List<Section> sections)
    {
        var md = new StringBuilder();
        md.Append(CultureInfo.InvariantCulture, $"# Model card: {v.Model} v{v.Version}\n");
        foreach (var s in sections)
        {
            md.Append(CultureInfo.InvariantCulture, $"\n## {s.Title}\n\n");
            foreach (var p in s.Paragraphs ?? []) md.Append(s.Paragraphs!.Count > 1 ? "- " : string.Empty).Append(p).Append('\n');
            if (s.Header is { } header)
            {
                md.Append("| ").AppendJoin(" | ", header).Append(" |\n|").AppendJoin("|", header.Select(_ => "---")).Append("|\n");
                foreach (var row in s.Rows ?? []) md.Append("| ").AppendJoin(" | ", row.Select(c => c.Replace("|", "\\|", StringComparison.Ordinal))).Append(" |\n");
            }
        }

        return md.ToString();
    }

    private static string RenderHtml(ModelVersionRecord v, List<Section> sections)
    {
        static string E(string text) => WebUtility.HtmlEncode(text);
        var html = new StringBuilder("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.Append(CultureInfo.InvariantCulture, $"<title>Model card: {E(v.Model)} v{v.Version}</title>");
        html.Append("<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}</style></head><body>\n");
        html.Append(CultureInfo.InvariantCulture, $"<h1>Model card: {E(v.Model)} v{v.Version}</h1>\n");
        foreach (var s in sections)
        {
            html.Append("<h2>").Append(E(s.Title)).Append("</h2>\n");
            if (s.Paragraphs is { Count: > 1 } list) html.Append("<ul>").AppendJoin(string.Empty, list.Select(p => "<li>" + E(p) + "</li>")).Append("</ul>\n");
            else foreach (var p in s.Paragraphs ?? []) html.Append("<p>").Append(E(p)).Append("</p>\n");
            if (s.Header is { } header)
            {
                html.Append("<table><tr>").AppendJoin(string.Empty, header.Select(h => "<th>" + E(h) + "</th>")).Append("</tr>\n");
                foreach (var row in s.Rows ?? []) html.Append("<tr>").AppendJoin(string.Empty, row.Select(c => "<td>" + E(c) + "</td>")).Append("</tr>\n");
                html.Append("</table>\n");
            }

            foreach (var chart in s.Svg ?? []) html.Append("<figure style=\"display:inline-block;margin:.5em\">").Append(chart).Append("</figure>\n");
        }

        return html.Append("</body></html>\n").ToString();
    }
}
