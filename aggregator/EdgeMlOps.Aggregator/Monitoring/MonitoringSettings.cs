using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol;

namespace EdgeMlOps.Aggregator.Monitoring;

/// <summary>The <c>Aggregator:Monitoring</c> section read into <see cref="MonitoringOptions"/>, every problem reported with its key.</summary>
internal static class MonitoringSettings
{
    public static MonitoringOptions Read(ConfigReader r, ModelSpec model)
    {
        var retrainText = r.String("Monitoring:RetrainOn", "off");
        var retrain = retrainText switch { "dataset" => RetrainTrigger.Dataset, "feature" => RetrainTrigger.Feature, _ => RetrainTrigger.Off };
        r.Require(retrainText is "off" or "dataset" or "feature", "Monitoring:RetrainOn", $"'{retrainText}' is not off, dataset or feature");
        var methodText = r.String("Monitoring:Drift:Method", "auto");
        r.Require(DriftMethods.TryParse(methodText, out var method), "Monitoring:Drift:Method", $"'{methodText}' is not one of {DriftMethods.All}");
        return new MonitoringOptions
        {
            Window = TimeSpan.FromSeconds(r.Double("Monitoring:WindowSeconds", 300, 0.1, 86_400)),
            CohortTag = r.OptionalString("Monitoring:CohortTag"),
            CohortReferences = r.Bool("Monitoring:CohortReferences", false),
            MinCohortReferenceRows = r.Long("Monitoring:MinCohortReferenceRows", 200, 1, long.MaxValue),
            RetainedWindows = r.Int("Monitoring:RetainedWindows", 48, 1, 100_000),
            RetrainOn = retrain,
            ReferenceDevicesPerRound = r.Int("Monitoring:ReferenceDevicesPerRound", 50, 0, 1_000_000),
            Kpis = ReadKpis(r, model.Classes),
            CategoricalFeatures = ReadCategorical(r, model.MonitoredWidth),
            AlertWebhook = ReadWebhook(r),
            RetrainCooldown = TimeSpan.FromSeconds(r.Double("Monitoring:RetrainCooldownSeconds", 3600, 0, 31_536_000)),
            MaxProfileBytes = r.Int("Monitoring:MaxProfileBytes", 4 * 1024 * 1024, 1024, ProtocolInfo.MaxPayloadBytes),
            Drift = new EdgeMlOps.Shared.Monitoring.DriftOptions
            {
                Method = method,
                DistanceThreshold = r.Double("Monitoring:Drift:Threshold", 0.1, 0, 100),
                KsPValue = r.Double("Monitoring:Drift:KsPValue", 0.05, 0, 1),
                DriftShare = r.Double("Monitoring:Drift:Share", 0.5, 0, 1),
                MinCount = r.Long("Monitoring:Drift:MinCount", 30, 1, long.MaxValue),
            },
        };
    }

    private static Uri? ReadWebhook(ConfigReader r)
    {
        if (r.OptionalString("Monitoring:AlertWebhook") is not { } text) return null;
        var ok = Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https";
        r.Require(ok, "Monitoring:AlertWebhook", $"'{text}' is not an http(s) URL");
        return ok ? uri : null;
    }

    /// <summary><c>Monitoring:CategoricalFeatures</c>: comma-separated input indices that carry category codes.</summary>
    private static IReadOnlyList<int> ReadCategorical(ConfigReader r, int inputs)
    {
        if (r.OptionalString("Monitoring:CategoricalFeatures") is not { } text) return [];

        var indices = new SortedSet<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (int.TryParse(part, System.Globalization.CultureInfo.InvariantCulture, out var index) && index >= 0 && index < inputs) indices.Add(index);
            else r.Require(false, "Monitoring:CategoricalFeatures", $"'{part}' is not an input index in [0, {inputs})");
        }

        return indices.ToArray();
    }

    private static IReadOnlyList<EdgeMlOps.Shared.Monitoring.KpiDefinition> ReadKpis(ConfigReader r, int classes)
    {

        var kpis = new List<EdgeMlOps.Shared.Monitoring.KpiDefinition>();
        foreach (var (name, text) in r.Map("Monitoring:Kpis"))
        {
            try
            {
                kpis.Add(EdgeMlOps.Shared.Monitoring.KpiDefinition.Parse(name, text, classes));
            }
            catch (FormatException ex)
            {
                r.Require(false, $"Monitoring:Kpis:{name}", ex.Message);
            }
        }

        return kpis;
    }
}
