using System.Globalization;
using System.Text;
using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Shared.Protocol.V1;
using static EdgeMlOps.Aggregator.Http.PrometheusText;

namespace EdgeMlOps.Aggregator.Http;

/// <summary>
/// <c>GET /metrics</c> in the Prometheus text exposition format (0.0.4): devices by state, cohort and
/// version; rounds; rejections by reason; profiles and drift; ground-truth accuracy; device latency
/// and memory across the fleet; rollout progress; broker and artifact counters; repairs made when the stores opened.
/// </summary>
internal sealed class PrometheusMetrics(
    AggregatorOptions options, DeviceDirectory devicesDirectory, SilentDevices silentDevices, FleetSecurity security, ModelRepository models, ModelRegistry registry,
    RejectionCounters rejections, DriftWatch drift, RolloutManager rollouts, FleetTraffic traffic, FleetStores stores, Replicas.ReplicaWatch replicas, TimeProvider time)
{
    public string Render()
    {
        var o = new StringBuilder();
        var cohortTag = options.Monitoring.CohortTag;
        var devices = devicesDirectory.All;

        Family(o, "edgemlops_devices", "gauge", "Devices by state, cohort and served model version.");
        foreach (var g in devices.GroupBy(d => (State: d.State.ToString().ToLowerInvariant(), Cohort: Cohort(d.Tags, cohortTag), d.ModelVersion)).OrderBy(g => g.Key.State).ThenBy(g => g.Key.Cohort, StringComparer.Ordinal).ThenBy(g => g.Key.ModelVersion))
        {
            Sample(o, "edgemlops_devices", g.Count(), ("state", g.Key.State), ("cohort", g.Key.Cohort), ("model_version", Num(g.Key.ModelVersion)));
        }

        // A device whose newest signed statement has expired has stopped hearing from the fleet (a freeze attack, or a broken path).
        var now = time.GetUtcNow();
        Family(o, "edgemlops_devices_behind", "gauge", "Online devices whose newest verified signed manifest has expired.");
        Sample(o, "edgemlops_devices_behind", devices.Count(d => d.State == EdgeMlOps.Shared.Protocol.V1.DeviceState.Online && d.FreshUntil is { } until && until < now));

        // A device that serves but is not whole: a store replaced or full, or a version it fell back from.
        Family(o, "edgemlops_devices_degraded", "gauge", "Online devices reporting a storage problem (store replaced at start, disk full) or a model fallback.");
        var serving = devices.Where(d => d.State == EdgeMlOps.Shared.Protocol.V1.DeviceState.Online).ToArray();
        Sample(o, "edgemlops_devices_degraded", serving.Count(d => d.StorageNotice.Length > 0), ("reason", "storage"));
        Sample(o, "edgemlops_devices_degraded", serving.Count(d => d.ModelNotice.Length > 0), ("reason", "model"));

        Family(o, "edgemlops_devices_forgotten_total", "counter", "Devices forgotten after Devices:ForgetAfterDays without a word (their retained statuses cleared).");
        Sample(o, "edgemlops_devices_forgotten_total", silentDevices.Forgotten);

        // Replicas connected but starved of updates (docs/SCALING.md): a broker rule missing drops their share silently.
        Family(o, "edgemlops_replica_silent_rounds", "gauge", "Rounds in a row that fell short while a connected aggregator replica wrote no share (2 or more: starved).");
        foreach (var (replica, rounds) in replicas.SilentRounds.OrderBy(r => r.Key, StringComparer.Ordinal)) Sample(o, "edgemlops_replica_silent_rounds", rounds, ("replica", replica));

        Family(o, "edgemlops_security_events_total", "counter", "Security events by kind (refused connections, denied publishes and subscriptions, enrollments, revocations, restored retained topics).");
        foreach (var kind in Enum.GetValues<Security.SecurityEventKind>()) Sample(o, "edgemlops_security_events_total", security.Events.Count(kind), ("kind", kind.ToString()));

        Family(o, "edgemlops_model_version", "gauge", "Newest registered version (training head) and the deployed one.");
        Sample(o, "edgemlops_model_version", models.Head.Record.Version, ("track", "head"));
        Sample(o, "edgemlops_model_version", models.Deployed?.Version ?? 0, ("track", "deployed"));

        Family(o, "edgemlops_rounds_total", "counter", "Rounds by outcome.");
        foreach (var (status, count) in registry.RoundCounts(options.ModelName)) // counted by the store: a scrape never reads every round
        {
            Sample(o, "edgemlops_rounds_total", count, ("status", status));
        }

        Family(o, "edgemlops_rejected_messages_total", "counter", "Device messages refused, by reason.");
        foreach (var (reason, count) in rejections.Snapshot()) Sample(o, "edgemlops_rejected_messages_total", count, ("reason", reason));

        Family(o, "edgemlops_device_sketches_withheld_total", "counter", "Window profiles devices sent without feature sketches (under their row floor), as last reported.");
        Sample(o, "edgemlops_device_sketches_withheld_total", devices.Sum(d => (double)d.SketchesWithheld));
        Family(o, "edgemlops_device_sketch_rows_dropped_total", "counter", "Predictions devices counted but did not sketch (sketching queue full), as last reported.");
        Sample(o, "edgemlops_device_sketch_rows_dropped_total", devices.Sum(d => (double)d.SketchRowsDropped));
        Family(o, "edgemlops_device_samples_refused_total", "counter", "Samples the model's front end refused on devices (values making a count outside the signed range), as last reported.");
        Sample(o, "edgemlops_device_samples_refused_total", devices.Sum(d => (double)d.SamplesRefused));

        Family(o, "edgemlops_profiles_accepted_total", "counter", "Device window profiles merged.");
        Sample(o, "edgemlops_profiles_accepted_total", drift.ProfilesAccepted);
        Family(o, "edgemlops_drift_alerts_total", "counter", "Windows in which a (version, cohort) had drifted features or predictions.");
        Sample(o, "edgemlops_drift_alerts_total", drift.Alerts);

        var latest = drift.Recent.GroupBy(r => (r.Version, r.Cohort)).Select(g => g.MaxBy(r => r.Window)!).ToArray();
        Family(o, "edgemlops_drift_share", "gauge", "Share of judged features that drifted in the last evaluated window.");
        foreach (var r in latest) Sample(o, "edgemlops_drift_share", r.Share, ("model_version", Num(r.Version)), ("cohort", r.Cohort));
        Family(o, "edgemlops_feature_drift_score", "gauge", "Drift score of each drifted feature in the last evaluated window (method in the label).");
        foreach (var r in latest)
        {
            foreach (var f in r.DriftedFeatures) Sample(o, "edgemlops_feature_drift_score", f.Score, ("model_version", Num(r.Version)), ("cohort", r.Cohort), ("feature", Num(f.Feature)), ("method", f.Method));
        }

        Family(o, "edgemlops_prediction_drift_score", "gauge", "Drift score of each drifted output (a classifier's predicted classes: output 0) against the version's first production predictions, last evaluated window.");
        foreach (var r in latest)
        {
            foreach (var f in r.DriftedOutputs) Sample(o, "edgemlops_prediction_drift_score", f.Score, ("model_version", Num(r.Version)), ("cohort", r.Cohort), ("output", Num(f.Feature)), ("method", f.Method));
        }

        Family(o, "edgemlops_ground_truth_accuracy", "gauge", "Accuracy on ground truth reported by devices, newest window with outcomes.");
        foreach (var p in drift.Monitor.Performance().Where(p => p.Outcomes > 0).GroupBy(p => (p.Version, p.Cohort)).Select(g => g.MaxBy(p => p.Window)!))
        {
            Sample(o, "edgemlops_ground_truth_accuracy", p.Accuracy, ("model_version", Num(p.Version)), ("cohort", p.Cohort));
        }

        Family(o, "edgemlops_kpi", "gauge", "Business KPIs of the model and of the on-device rule-based baseline, newest window per version and cohort.");
        foreach (var k in drift.Monitor.Kpis().GroupBy(k => (k.Name, k.Version, k.Cohort)).Select(g => g.MaxBy(k => k.Window)!))
        {
            Sample(o, "edgemlops_kpi", k.Model, ("kpi", k.Name), ("source", "model"), ("model_version", Num(k.Version)), ("cohort", k.Cohort));
            Sample(o, "edgemlops_kpi", k.Baseline, ("kpi", k.Name), ("source", "baseline"), ("model_version", Num(k.Version)), ("cohort", k.Cohort));
        }

        var online = devices.Where(d => d.State == DeviceState.Online && d.Predictions > 0).ToArray();
        Family(o, "edgemlops_device_latency_p95_ms", "gauge", "Devices' own p95 inference latency, summarized across online devices.");
        Family(o, "edgemlops_device_rss_bytes", "gauge", "Devices' resident memory, summarized across online devices.");
        foreach (var (q, name) in new[] { (0.5, "0.5"), (0.95, "0.95"), (1.0, "1") })
        {
            if (online.Length == 0) break;
            Sample(o, "edgemlops_device_latency_p95_ms", Quantile(online.Select(d => d.LatencyP95Ms), q), ("quantile", name));
            Sample(o, "edgemlops_device_rss_bytes", Quantile(online.Select(d => (double)d.RssBytes), q), ("quantile", name));
        }

        // Fleet percentiles from the devices' merged window histograms and memory sketches (newest window with predictions).
        Family(o, "edgemlops_inference_latency_ms", "gauge", "Fleet inference latency from merged device histograms (within 19%), newest window.");
        Family(o, "edgemlops_agent_memory_mb", "gauge", "Agents' resident memory across the fleet, newest window.");
        foreach (var version in drift.Monitor.Performance().Where(p => p.Cohort == FleetMonitor.AllCohorts && p.Predictions > 0).GroupBy(p => p.Version).Select(g => g.MaxBy(p => p.Window)!))
        {
            if (drift.Monitor.Window(version.Version, FleetMonitor.AllCohorts, version.Window) is not { } w) continue;
            foreach (var (q, name) in new[] { (0.5, "0.5"), (0.95, "0.95"), (0.99, "0.99") })
            {
                if (w.Latency.Count > 0) Sample(o, "edgemlops_inference_latency_ms", w.Latency.Quantile(q).TotalMilliseconds, ("model_version", Num(version.Version)), ("quantile", name));
                if (!w.MemoryMb.IsEmpty) Sample(o, "edgemlops_agent_memory_mb", w.MemoryMb.Quantile(q), ("model_version", Num(version.Version)), ("quantile", name));
            }
        }

        Family(o, "edgemlops_rollout_devices", "gauge", "Devices of the current rollout by stage and phase.");
        if (rollouts.Current is { } rollout)
        {
            var view = rollouts.View(rollout);
            foreach (var s in view.Stages)
            {
                foreach (var (phase, count) in new[] { ("targeted", s.Targeted), ("installed", s.Installed), ("healthy", s.Healthy), ("failed", s.Failed), ("rolled_back", s.RolledBack) })
                {
                    Sample(o, "edgemlops_rollout_devices", count, ("rollout", rollout.Id), ("stage", Num(s.Stage)), ("phase", phase));
                }
            }

            Family(o, "edgemlops_rollout_info", "gauge", "The current rollout: 1, with its state, version and open stage as labels.");
            Sample(o, "edgemlops_rollout_info", 1, ("rollout", rollout.Id), ("state", rollout.State.ToString().ToLowerInvariant()), ("model_version", Num(rollout.Request.Version)), ("stage", Num(rollout.Stage + 1)));
        }

        Family(o, "edgemlops_broker_dropped_messages_total", "counter", "Messages the embedded broker dropped (queue overflow).");
        Sample(o, "edgemlops_broker_dropped_messages_total", traffic.BrokerDroppedMessages);
        Family(o, "edgemlops_artifact_bytes_served_total", "counter", "Artifact bytes served over HTTP.");
        Sample(o, "edgemlops_artifact_bytes_served_total", traffic.ArtifactBytesServed);
        Family(o, "edgemlops_store_repairs", "gauge", "Repairs made when this aggregator opened its stores (damaged cache kept aside, audit head caught up, interrupted commit completed).");
        foreach (var kind in StoreRepair.Kinds) Sample(o, "edgemlops_store_repairs", stores.Repairs.Count(r => r.Kind == kind), ("kind", kind));
        return o.ToString();
    }

    private static string Cohort(IReadOnlyDictionary<string, string> tags, string? tag) =>
        tag is not null && tags.TryGetValue(tag, out var value) ? value : FleetMonitor.AllCohorts;

    private static double Quantile(IEnumerable<double> values, double q)
    {
        var sorted = values.Order().ToArray();
        return sorted[(int)Math.Min(sorted.Length - 1, Math.Floor(q * sorted.Length))];
    }

    private static string Num(ulong v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Num(int v) => v.ToString(CultureInfo.InvariantCulture);
}
