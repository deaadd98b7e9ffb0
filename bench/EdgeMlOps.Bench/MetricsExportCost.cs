using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Text;
using EdgeMlOps.Aggregator.Broker;
using EdgeMlOps.Aggregator.Http;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace EdgeMlOps.Bench;

/// <summary>
/// The aggregator's <c>/metrics</c> written by hand (<see cref="PrometheusText"/>) against the same families through
/// <c>System.Diagnostics.Metrics</c> observable instruments and OpenTelemetry's Prometheus exporter, both served over
/// HTTP on loopback and scraped alternately in one run: scrape time, bytes allocated per scrape, response size, how many
/// of the fleet's series each exports (the SDK's cardinality limit), and whether a series that no longer exists (devices
/// that moved to another version) leaves the output.
/// <c>dotnet run --project bench/EdgeMlOps.Bench -c Release -- metrics-export [COHORTS] [DRIFTED-FEATURES]</c>.
/// </summary>
public static class MetricsExportCost
{
    private static readonly string[] States = ["online", "offline", "training"];

    public static async Task RunAsync(string[] args, TextWriter output)
    {
        var cohorts = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20;
        var drifted = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 100;
        var fleet = new FleetShape(cohorts, drifted, versions: [1, 2, 3]);
        output.WriteLine($"fleet: {cohorts} cohorts, versions 1-3, {drifted} drifted features per (version, cohort): {fleet.DeviceSeries} device series, {fleet.DriftSeries} drift series");

        using var hand = new HandWrittenEndpoint(fleet);
        using var meter = new Meter("EdgeMlOps.Bench.Metrics");
        fleet.Observe(meter);
        var otelPort = EmbeddedBroker.FreePort();
        using var provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(meter.Name)
            .AddPrometheusHttpListener(o =>
            {
                o.Host = "127.0.0.1";
                o.Port = otelPort;
                o.ScrapeResponseCacheDurationMilliseconds = 0; // every scrape collects, as the hand-written endpoint renders
            })
            .Build();
        // The same instruments through a second provider whose drift family may hold every series (a view raises its limit).
        using var unlimitedMeter = new Meter("EdgeMlOps.Bench.Metrics.Unlimited");
        fleet.Observe(unlimitedMeter);
        var unlimitedPort = EmbeddedBroker.FreePort();
        using var unlimited = Sdk.CreateMeterProviderBuilder()
            .AddMeter(unlimitedMeter.Name)
            .AddView("edgemlops_feature_drift_score", new MetricStreamConfiguration { CardinalityLimit = 1_000_000 })
            .AddPrometheusHttpListener(o =>
            {
                o.Host = "127.0.0.1";
                o.Port = unlimitedPort;
                o.ScrapeResponseCacheDurationMilliseconds = 0;
            })
            .Build();
        using var http = new HttpClient();
        var endpoints = new[] { ("hand-written", hand.Url), ("opentelemetry", $"http://127.0.0.1:{otelPort}/metrics"), ("otel, no limit", $"http://127.0.0.1:{unlimitedPort}/metrics") };

        foreach (var (_, url) in endpoints) for (var i = 0; i < 20; i++) await http.GetStringAsync(url); // JIT, first collection
        output.WriteLine("exporter       scrape ms (median, p95 of 200)  KB allocated per scrape  response KB  device series  drift series");
        foreach (var (name, url) in endpoints.Concat(endpoints.Reverse()))
        {
            var times = new double[200];
            var before = GC.GetTotalAllocatedBytes(precise: true);
            string body = "";
            for (var i = 0; i < times.Length; i++)
            {
                var watch = Stopwatch.StartNew();
                body = await http.GetStringAsync(url);
                times[i] = watch.Elapsed.TotalMilliseconds;
            }

            var allocated = (GC.GetTotalAllocatedBytes(precise: true) - before) / times.Length / 1024.0;
            Array.Sort(times);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-14} {times[100],8:F2} {times[190],8:F2}                {allocated,10:F0}              {Encoding.UTF8.GetByteCount(body) / 1024.0,8:F0}  {Series(body, "edgemlops_devices"),8}       {Series(body, "edgemlops_feature_drift_score"),8}"));
        }

        foreach (var (name, url) in endpoints)
        {
            var line = (await http.GetStringAsync(url)).Split('\n').First(l => l.StartsWith("edgemlops_devices{", StringComparison.Ordinal));
            output.WriteLine($"{name,-14} writes a series as: {line}");
        }

        // Every device on version 1 updates to version 3: the version-1 series no longer describe anything.
        fleet.Retire(1, into: 3);
        foreach (var (name, url) in endpoints)
        {
            var body = await http.GetStringAsync(url);
            var stale = body.Split('\n').Count(l => l.StartsWith("edgemlops_devices{", StringComparison.Ordinal) && l.Contains("model_version=\"1\"", StringComparison.Ordinal));
            var overflow = body.Split('\n').Count(l => l.Contains("otel_metric_overflow", StringComparison.Ordinal));
            output.WriteLine($"{name,-14} after version 1 is retired: {stale} version-1 device series still exported; {overflow} overflow series");
        }
    }

    private static int Series(string body, string family) =>
        body.Split('\n').Count(l => l.StartsWith(family + "{", StringComparison.Ordinal) || l.StartsWith(family + " ", StringComparison.Ordinal));

    /// <summary>A fleet's metric state as the aggregator reads it at scrape time: devices by state, cohort and version; drift scores per feature.</summary>
    private sealed class FleetShape(int cohorts, int drifted, ulong[] versions)
    {
        private readonly Lock _gate = new();
        private ulong[] _versions = versions;

        public int DeviceSeries => States.Length * cohorts * _versions.Length;

        public int DriftSeries => _versions.Length * cohorts * drifted;

        public void Retire(ulong version, ulong into)
        {
            lock (_gate) _versions = _versions.Where(v => v != version).Append(into).Distinct().ToArray();
        }

        public IEnumerable<(string State, string Cohort, ulong Version, double Devices)> Devices()
        {
            ulong[] versions;
            lock (_gate) versions = _versions;
            foreach (var state in States)
            {
                for (var c = 0; c < cohorts; c++)
                {
                    foreach (var v in versions) yield return (state, "cohort-" + c.ToString(CultureInfo.InvariantCulture), v, 10 + c + (int)v);
                }
            }
        }

        public IEnumerable<(ulong Version, string Cohort, int Feature, double Score)> Drift()
        {
            ulong[] versions;
            lock (_gate) versions = _versions;
            foreach (var v in versions)
            {
                for (var c = 0; c < cohorts; c++)
                {
                    for (var f = 0; f < drifted; f++) yield return (v, "cohort-" + c.ToString(CultureInfo.InvariantCulture), f * 7, 0.1 + f / 1000.0);
                }
            }
        }

        public string Render()
        {
            var o = new StringBuilder();
            PrometheusText.Family(o, "edgemlops_devices", "gauge", "Devices by state, cohort and served model version.");
            foreach (var d in Devices()) PrometheusText.Sample(o, "edgemlops_devices", d.Devices, ("state", d.State), ("cohort", d.Cohort), ("model_version", Num(d.Version)));
            PrometheusText.Family(o, "edgemlops_feature_drift_score", "gauge", "Drift score of each drifted feature in the last evaluated window.");
            foreach (var d in Drift()) PrometheusText.Sample(o, "edgemlops_feature_drift_score", d.Score, ("model_version", Num(d.Version)), ("cohort", d.Cohort), ("feature", Num((ulong)d.Feature)), ("method", "psi"));
            return o.ToString();
        }

        public void Observe(Meter meter)
        {
            meter.CreateObservableGauge("edgemlops_devices", () => Devices().Select(d => new Measurement<double>(d.Devices, new TagList { { "state", d.State }, { "cohort", d.Cohort }, { "model_version", Num(d.Version) } })), description: "Devices by state, cohort and served model version.");
            meter.CreateObservableGauge("edgemlops_feature_drift_score", () => Drift().Select(d => new Measurement<double>(d.Score, new TagList { { "model_version", Num(d.Version) }, { "cohort", d.Cohort }, { "feature", Num((ulong)d.Feature) }, { "method", "psi" } })), description: "Drift score of each drifted feature in the last evaluated window.");
        }

        private static string Num(ulong v) => v.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The hand-written side: renders on every request, as the aggregator's endpoint does.</summary>
    private sealed class HandWrittenEndpoint : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly FleetShape _fleet;

        public HandWrittenEndpoint(FleetShape fleet)
        {
            _fleet = fleet;
            Url = $"http://127.0.0.1:{EmbeddedBroker.FreePort()}/metrics";
            _listener.Prefixes.Add(Url[..^"metrics".Length]);
            _listener.Start();
            _ = ServeAsync();
        }

        public string Url { get; }

        public void Dispose() => _listener.Close();

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                var bytes = Encoding.UTF8.GetBytes(_fleet.Render());
                context.Response.ContentType = PrometheusText.ContentType;
                context.Response.ContentLength64 = bytes.Length;
                await context.Response.OutputStream.WriteAsync(bytes);
                context.Response.Close();
            }
        }
    }
}
