using System.Globalization;
using System.Text;

namespace EdgeMlOps.Aggregator.Http;

/// <summary>
/// The Prometheus text exposition format (0.0.4), written straight into a buffer: a family's HELP and TYPE lines, and
/// samples with escaped label values. Kept over the OpenTelemetry exporter on a measurement (docs/ARCHITECTURE.md).
/// </summary>
public static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static void Family(StringBuilder o, string name, string type, string help) =>
        o.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n').Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    public static void Sample(StringBuilder o, string name, double value, params (string Name, string Value)[] labels)
    {
        o.Append(name);
        if (labels.Length > 0)
        {
            o.Append('{');
            for (var i = 0; i < labels.Length; i++)
            {
                if (i > 0) o.Append(',');
                o.Append(labels[i].Name).Append("=\"").Append(labels[i].Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)).Append('"');
            }

            o.Append('}');
        }

        o.Append(' ').Append(double.IsNaN(value) ? "NaN" : double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf" : value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
    }
}
