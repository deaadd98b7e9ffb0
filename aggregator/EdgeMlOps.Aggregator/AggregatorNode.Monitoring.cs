using System.Text.Json;
using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator;

public sealed partial class AggregatorNode
{
    private readonly object _driftGate = new();
    private readonly Queue<DriftReport> _driftReports = new();
    private Task? _driftLoop;
    private long _profilesAccepted;
    private long _driftAlerts;

    /// <summary>Device window profiles merged by version, cohort and window; reference profiles; drift tests.</summary>
    public FleetMonitor Monitor { get; }

    public long ProfilesAccepted => Interlocked.Read(ref _profilesAccepted);

    public long DriftAlerts => Interlocked.Read(ref _driftAlerts);

    /// <summary>The drift reports of the most recent evaluated windows (newest last).</summary>
    public IReadOnlyList<DriftReport> RecentDrift
    {
        get { lock (_driftGate) return _driftReports.ToArray(); }
    }

    /// <summary>The drift-alert webhook, when <c>Monitoring:AlertWebhook</c> is set.</summary>
    public AlertWebhook? Webhook { get; private set; }

    /// <summary>The fleet monitor with the registry's reference profiles (one that cannot be read is counted and skipped).</summary>
    private FleetMonitor OpenMonitor()
    {
        var monitor = new FleetMonitor(_options.Monitoring, _options.Model.InputDim, _options.Model.Classes);
        foreach (var (version, bytes) in Registry.References(_options.ModelName))
        {
            try
            {
                monitor.SetReference(version, monitor.Read(ProfileReport.Parser.ParseFrom(bytes)));
            }
            catch (Exception ex) when (ex is InvalidDataException or InvalidProtocolBufferException)
            {
                LogRejected("registry", RejectionReason.BadProfile, $"reference profile of v{version}: {ex.Message}");
            }
        }

        return monitor;
    }

    private void StartMonitoring()
    {
        if (_options.Monitoring.AlertWebhook is { } webhook) Webhook = new AlertWebhook(webhook, _logger);
        _driftLoop = Task.Run(DriftLoopAsync, CancellationToken.None);
    }

    /// <summary>A device's window profile: checked, then merged into its cohort's and the fleet's window.</summary>
    private void OnProfile(string deviceId, ProfileReport report)
    {
        if (report.Header is null || report.Header.SenderId != deviceId || report.Header.ProtocolVersion != Shared.Protocol.ProtocolInfo.CurrentVersion)
        {
            Reject(deviceId, RejectionReason.Malformed, "profile without a matching v1 header");
            return;
        }

        if (!IsFirstDelivery(deviceId, report.Header.MessageId, "profile")) return;

        if (report.ModelName != _options.ModelName || report.ModelVersion == 0 || report.ModelVersion > _current.Record.Version)
        {
            Reject(deviceId, RejectionReason.BadProfile, $"profile of {report.ModelName} v{report.ModelVersion}, which this aggregator does not know");
            return;
        }

        WindowProfile profile;
        try
        {
            profile = Monitor.Read(report);
        }
        catch (InvalidDataException ex)
        {
            Reject(deviceId, RejectionReason.BadProfile, ex.Message);
            return;
        }

        var cohort = _options.Monitoring.CohortTag is { } tag && Devices.TryGet(deviceId, out var device) && device.Tags.TryGetValue(tag, out var value) ? value : null;
        Monitor.Add(report.ModelVersion, cohort, Monitor.WindowOf(DateTimeOffset.FromUnixTimeMilliseconds(report.WindowEndUnixMs)), profile);
        Interlocked.Increment(ref _profilesAccepted);
    }

    /// <summary>The sketches of an accepted update's training samples go into the next version's reference; a bad one is counted, the update kept.</summary>
    private void OnTrainingProfile(string deviceId, ModelUpdate update)
    {
        if (update.TrainingProfile is not { } report) return;
        try
        {
            Monitor.AddTraining(Monitor.Read(report));
        }
        catch (InvalidDataException ex)
        {
            Reject(deviceId, RejectionReason.BadProfile, "training profile: " + ex.Message);
        }
    }

    /// <summary>Gives a new version its reference profile (from its round's training sketches, or its parent's) and keeps it in the registry.</summary>
    private void PromoteReference(ulong version, ulong parent)
    {
        if (Monitor.PromoteReference(version, parent) is { } reference)
        {
            Registry.SaveReference(_options.ModelName, version, reference.ToProto().ToByteArray());
        }
    }

    /// <summary>After each window (plus a grace of a tenth of it for late reports), tests it against the references and raises alerts.</summary>
    private async Task DriftLoopAsync()
    {
        var window = _options.Monitoring.Window;
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                var now = _time.GetUtcNow();
                var current = Monitor.WindowOf(now);
                var nextEnd = DateTimeOffset.FromUnixTimeMilliseconds((current + 1) * (long)window.TotalMilliseconds) + window / 10;
                await Task.Delay(nextEnd - now, _time, _stopping.Token).ConfigureAwait(false);
                await EvaluateDriftAsync(current, _stopping.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Tests <paramref name="window"/> for every (version, cohort) with a reference; drifted ones are logged, published on the alerts topic and kept for the API.</summary>
    public async Task<IReadOnlyList<DriftReport>> EvaluateDriftAsync(long window, CancellationToken cancellationToken)
    {
        var reports = Monitor.Evaluate(window);
        lock (_driftGate)
        {
            foreach (var report in reports) _driftReports.Enqueue(report);
            while (_driftReports.Count > 1000) _driftReports.Dequeue();
        }

        foreach (var report in reports.Where(r => r.DatasetDrift || r.Drifted > 0))
        {
            Interlocked.Increment(ref _driftAlerts);
            var features = string.Join(", ", report.DriftedFeatures.Take(10).Select(f => FormattableString.Invariant($"{f.Feature} ({f.Method} {f.Score:G3})")));
            LogDrift(report.Version, report.Cohort, report.Window, report.Drifted, report.Judged, features);
            Webhook?.Enqueue(report);
            try
            {
                await _publisher.PublishAsync(_topics.Alerts, JsonSerializer.SerializeToUtf8Bytes(report, MonitoringJson.Default.DriftReport), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
            {
                LogRepublishFailed("drift alert: " + ex.Message);
            }
        }

        var policy = _options.Monitoring.RetrainOn;
        var trigger = reports.FirstOrDefault(r => r.Version == _current.Record.Version && (policy == "feature" ? r.Drifted > 0 : policy == "dataset" && r.DatasetDrift));
        if (trigger is not null) TriggerRetraining(trigger);
        return reports;
    }

    private DateTimeOffset _lastRetrain = DateTimeOffset.MinValue;
    private int _retrainPending;

    /// <summary>Starts a round because the training head drifted (policy <c>Monitoring:RetrainOn</c>), at most once per cooldown; audited.</summary>
    private void TriggerRetraining(DriftReport report)
    {
        var now = _time.GetUtcNow();
        if (now - _lastRetrain < _options.Monitoring.RetrainCooldown || Interlocked.Exchange(ref _retrainPending, 1) == 1) return;
        _lastRetrain = now;
        var why = $"drift in cohort {report.Cohort} of v{report.Version}, window {report.Window}: features {string.Join(", ", report.DriftedFeatures.Select(f => f.Feature))}";
        Audit.Append(now, "system:drift-policy", "round.trigger", $"model/{_options.ModelName}", why, null, null);
        _ = Task.Run(async () =>
        {
            try
            {
                await RunRoundAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                Volatile.Write(ref _retrainPending, 0);
            }
        });
    }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[System.Text.Json.Serialization.JsonSerializable(typeof(DriftReport))]
[System.Text.Json.Serialization.JsonSerializable(typeof(AlertMessage))]
[System.Text.Json.Serialization.JsonSerializable(typeof(IReadOnlyList<DriftReport>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(IReadOnlyList<PerformanceView>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(IReadOnlyList<KpiView>))]
internal sealed partial class MonitoringJson : System.Text.Json.Serialization.JsonSerializerContext;

/// <summary>Serializer metadata for monitoring views (NaN and infinity written as JSON strings).</summary>
internal static class MonitoringJsonAccess
{
    public static System.Text.Json.Serialization.Metadata.JsonTypeInfo<IReadOnlyList<DriftReport>> Reports => MonitoringJson.Default.IReadOnlyListDriftReport;

    public static System.Text.Json.Serialization.Metadata.JsonTypeInfo<IReadOnlyList<PerformanceView>> Performance => MonitoringJson.Default.IReadOnlyListPerformanceView;

    public static System.Text.Json.Serialization.Metadata.JsonTypeInfo<IReadOnlyList<KpiView>> Kpis => MonitoringJson.Default.IReadOnlyListKpiView;
}
