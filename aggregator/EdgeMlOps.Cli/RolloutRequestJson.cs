using System.Globalization;
using System.Text.Json;

namespace EdgeMlOps.Cli;

/// <summary>The admin API's rollout request, as JSON, from the options of <c>rollouts create</c>.</summary>
internal static class RolloutRequestJson
{
    public static string Body(ulong version, string? stages, string? exponential, string[] cohort, int window, double maxFailure, double maxDrop, double latency, bool autoAdvance, string reason, ShadowArgs? shadow = null, AbArgs? ab = null, string? stratifyBy = null)
    {
        static double[] Numbers(string text) => text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw new FormatException($"'{t}' is not a number")).ToArray();
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("version", version);
            if (exponential is not null)
            {
                var e = Numbers(exponential);
                if (e.Length != 2) throw new FormatException("--exponential takes START,FACTOR");
                json.WriteStartObject("exponential");
                json.WriteNumber("start", e[0]);
                json.WriteNumber("factor", e[1]);
                json.WriteEndObject();
            }
            else if (stages is not null)
            {
                json.WriteStartArray("stages");
                foreach (var s in Numbers(stages)) json.WriteNumberValue(s);
                json.WriteEndArray();
            }

            json.WriteStartObject("cohort");
            foreach (var c in cohort)
            {
                var eq = c.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0) throw new FormatException($"--cohort '{c}' is not TAG=V1[,V2]");
                json.WriteStartArray(c[..eq]);
                foreach (var v in c[(eq + 1)..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)) json.WriteStringValue(v);
                json.WriteEndArray();
            }

            json.WriteEndObject();
            json.WriteStartObject("health");
            json.WriteNumber("windowSeconds", window);
            json.WriteNumber("latencyBudgetP95Ms", latency);
            json.WriteEndObject();
            json.WriteStartObject("gates");
            json.WriteNumber("maxFailureRate", maxFailure);
            json.WriteNumber("maxAccuracyDrop", maxDrop);
            if (stratifyBy is not null) json.WriteString("stratifyBy", stratifyBy);
            json.WriteEndObject();
            if (shadow is not null)
            {
                json.WriteStartObject("shadow");
                json.WriteNumber("share", shadow.Share);
                json.WriteNumber("sampleRate", shadow.SampleRate);
                json.WriteNumber("minScored", shadow.MinScored);
                json.WriteNumber("minAgreement", shadow.MinAgreement);
                json.WriteBoolean("requireLabels", shadow.RequireLabels);
                json.WriteEndObject();
            }

            if (ab is not null)
            {
                json.WriteStartObject("experiment");
                json.WriteNumber("share", ab.Share);
                json.WriteNumber("split", ab.Split);
                json.WriteString("metric", ab.Metric);
                json.WriteBoolean("higherIsBetter", ab.HigherIsBetter);
                json.WriteString("unit", ab.Unit);
                json.WriteStartObject("design");
                json.WriteString("mode", ab.Mode);
                json.WriteNumber("baselineRate", ab.Baseline);
                json.WriteNumber("minDetectableEffect", ab.MinEffect);
                if (ab.StandardDeviation is { } sd) json.WriteNumber("standardDeviation", sd);
                if (ab.ClusterCorrelation is { } icc) json.WriteNumber("clusterCorrelation", icc);
                if (ab.LabelsPerDevice is { } m) json.WriteNumber("labelsPerDevice", m);
                json.WriteEndObject();
                json.WriteEndObject();
            }

            json.WriteBoolean("autoAdvance", autoAdvance);
            json.WriteString("reason", reason);
            json.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
