using System.Text;
using EdgeMlOps.Aggregator.Http;

namespace EdgeMlOps.Aggregator.Tests.Http;

/// <summary>The exposition format as Prometheus parses it: HELP and TYPE lines, escaped label values, special values written to round-trip.</summary>
public class PrometheusTextTests
{
    [Fact]
    public void AFamilyAndItsSamples_AreWrittenInTheTextFormat()
    {
        var o = new StringBuilder();
        PrometheusText.Family(o, "edgemlops_devices", "gauge", "Devices by state.");
        PrometheusText.Sample(o, "edgemlops_devices", 12, ("state", "online"), ("cohort", "eu"));
        PrometheusText.Sample(o, "edgemlops_devices", 0.25);

        Assert.Equal("# HELP edgemlops_devices Devices by state.\n# TYPE edgemlops_devices gauge\nedgemlops_devices{state=\"online\",cohort=\"eu\"} 12\nedgemlops_devices 0.25\n", o.ToString());
    }

    [Fact]
    public void LabelValuesFromDevices_AreEscaped_SoNoTagCanForgeASeries()
    {
        var o = new StringBuilder();
        PrometheusText.Sample(o, "m", 1, ("cohort", "a\"} 99\nedgemlops_devices{state=\"x\\"));

        Assert.Equal("m{cohort=\"a\\\"} 99\\nedgemlops_devices{state=\\\"x\\\\\"} 1\n", o.ToString());
        Assert.Single(o.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void SpecialValues_ReadAsPrometheusExpects()
    {
        var o = new StringBuilder();
        PrometheusText.Sample(o, "a", double.NaN);
        PrometheusText.Sample(o, "b", double.PositiveInfinity);
        PrometheusText.Sample(o, "c", double.NegativeInfinity);
        PrometheusText.Sample(o, "d", 1234.5);
        PrometheusText.Sample(o, "e", 0.1 + 0.2);
        Assert.Equal("a NaN\nb +Inf\nc -Inf\nd 1234.5\ne 0.30000000000000004\n", o.ToString());
    }
}
