using System.Text.Json;
using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Monitoring;

/// <summary>
/// Fleet monitoring as a service: devices' window profiles merged by version, cohort and window; each version's
/// reference profile (from its round's training sketches); after every window a drift test against the references,
/// with alerts (log, MQTT alerts topic, webhook) and, by policy, a retraining round.
/// </summary>
public sealed class DriftWatch
{
    private readonly AggregatorOptions _options;
    private readonly FleetStores _stores;
    private readonly ModelRepository _models;
    private readonly DeviceDirectory _devices;
    private readonly FleetPublisher _publisher;
    private readonly Topics _topics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationToken _stopping;
    private readonly object _gate = new();
    private readonly Queue<DriftReport> _reports = new();
    private long _profilesAccepted;
    private long _alerts;
    private DateTimeOffset _lastRetrain = DateTimeOffset.MinValue;
    private int _retrainPending;

    public DriftWatch(AggregatorOptions options, FleetStores stores, ModelRepository models, DeviceDirectory devices, FleetPublisher publisher, TimeProvider time, CancellationToken stopping, ILogger logger)
    {
        _stopping = stopping;
        _options = options;
        _stores = stores;
        _models = models;
        _devices = devices;
        _publisher = publisher;
        _topics = options.Topics;
        _time = time;
        _logger = logger;
        Monitor = OpenMonitor();
        if (options.Monitoring.AlertWebhook is { } webhook) Webhook = new AlertWebhook(webhook, logger);
    }

    /// <summary>Device window profiles merged by version, cohort and window; reference profiles; drift tests.</summary>
    public FleetMonitor Monitor { get; }

    /// <summary>The drift-alert webhook, when <c>Monitoring:AlertWebhook</c> is set.</summary>
    public AlertWebhook? Webhook { get; }

    /// <summary>What a drift alert starts (by <c>Monitoring:RetrainOn</c>): a round; set by whoever runs rounds.</summary>
    public Func<CancellationToken, Task>? Retrain { get; set; }

    public long ProfilesAccepted => Interlocked.Read(ref _profilesAccepted);

    public long Alerts => Interlocked.Read(ref _alerts);

    /// <summary>The drift reports of the most recent evaluated windows (newest last).</summary>
    public IReadOnlyList<DriftReport> Recent
    {
        get { lock (_gate) return _reports.ToArray(); }
    }

    /// <summary>A device's window profile (header and first delivery already checked): merged into its cohort's and the fleet's window, or refused with the reason.</summary>
    public OfferOutcome AddProfile(string deviceId, ProfileReport report)
    {
        if (report.ModelName != _options.ModelName || report.ModelVersion == 0 || report.ModelVersion > _models.Head.Record.Version)
        {
            return new OfferOutcome(false, RejectionReason.BadProfile, $"profile of {report.ModelName} v{report.ModelVersion}, which this aggregator does not know");
        }

        if (_options.Model.Graph?.Tensors is { MonitoredWidth: 0 })
        {
            // Nothing monitored (no float output with a fixed row): any profile for such a model is not one its devices send.
            return new OfferOutcome(false, RejectionReason.BadProfile, $"{_options.ModelName} is served by tensor names and has no monitored outputs: its devices send no profiles");
        }

        var current = Monitor.WindowOf(_time.GetUtcNow());
        if (NotFiled(report.WindowEndUnixMs, current, out var window) is { } refused) return new OfferOutcome(false, refused.Reason, refused.Detail);

        WindowProfile profile;
        try
        {
            profile = Monitor.Read(report);
        }
        catch (InvalidDataException ex)
        {
            return new OfferOutcome(false, RejectionReason.BadProfile, ex.Message);
        }

        var cohort = CohortOf(deviceId);
        Monitor.Add(report.ModelVersion, cohort, window, profile, current);
        Interlocked.Increment(ref _profilesAccepted);
        return OfferOutcome.Taken;
    }

    /// <summary>
    /// Why a profile whose window ends at <paramref name="endUnixMs"/> (the device's clock) cannot be filed, or null. The
    /// monitor keeps <c>Monitoring:RetainedWindows</c> windows: a profile may be dated that many windows either side of
    /// the aggregator's clock (a device's queued profiles arrive late; a simulation runs its windows ahead). Earlier is
    /// gone already (<see cref="RejectionReason.Stale"/>); later, or no date at all (a clock never set, a forged
    /// report), is refused as a bad profile.
    /// </summary>
    private (RejectionReason Reason, string Detail)? NotFiled(long endUnixMs, long current, out long window)
    {
        var kept = _options.Monitoring.RetainedWindows;
        window = 0;
        if (WireTime.Stated(endUnixMs) is not { } end) return (RejectionReason.BadProfile, FormattableString.Invariant($"a window ending at {endUnixMs} ms, which is no date: the device's clock is not set, or the report is forged"));
        window = Monitor.WindowOf(end);
        if (window > current + kept) return (RejectionReason.BadProfile, FormattableString.Invariant($"a window ending at {end:u}, more than {kept} windows ahead of the aggregator's clock: the device's clock is off, or the report is forged"));
        return window < current - kept ? (RejectionReason.Stale, FormattableString.Invariant($"a window ending at {end:u}, older than the {kept} windows kept")) : null;
    }

    /// <summary>The device's cohort: the value of its <c>Monitoring:CohortTag</c> tag in its latest status, or null.</summary>
    private string? CohortOf(string deviceId) =>
        _options.Monitoring.CohortTag is { } tag && _devices.TryGet(deviceId, out var device) && device.Tags.TryGetValue(tag, out var value) ? value : null;

    /// <summary>
    /// Checks and keeps the sketches of an update's training samples <em>before</em> the update is offered to its round:
    /// the round may count the update and commit its version at once, and the version's reference must hold them
    /// (<see cref="AdoptTraining"/> takes those of the round's contributors). A bad one is refused (the update goes on);
    /// an update without sketches forgets any its device left before. At most one is kept per device.
    /// </summary>
    public OfferOutcome StageTrainingProfile(string deviceId, ModelUpdate update)
    {
        WindowProfile? profile = null;
        var outcome = OfferOutcome.Taken;
        try
        {
            if (update.TrainingProfile is { } report) profile = Monitor.Read(report);
        }
        catch (InvalidDataException ex)
        {
            outcome = new OfferOutcome(false, RejectionReason.BadProfile, "training profile: " + ex.Message);
        }

        Monitor.StageTraining(deviceId, update.RoundId, profile, profile is null ? null : CohortOf(deviceId));
        return outcome;
    }

    /// <summary>
    /// The kept sketches of a round's <paramref name="contributors"/> (of round <paramref name="roundId"/>, or of any
    /// task for a FedBuff buffer) join the next version's reference (the fleet's and their cohorts').
    /// </summary>
    public void AdoptTraining(IEnumerable<string> contributors, string? roundId) => Monitor.AdoptTraining(contributors, roundId);

    /// <summary>Gives a new version its reference profile (from its round's training sketches, or its parent's) and keeps it in the registry.</summary>
    public void PromoteReference(ulong version, ulong parent)
    {
        if (Monitor.PromoteReference(version, parent) is { } reference)
        {
            _stores.Registry.SaveReference(_options.ModelName, version, reference.ToProto().ToByteArray());
        }

        foreach (var (cohort, profile) in Monitor.CohortReferencesOf(version))
        {
            _stores.Registry.SaveCohortReference(_options.ModelName, version, cohort, profile.ToProto().ToByteArray());
        }

        Monitor.Unload(); // kept in the registry: older references wait there until asked for
    }

    /// <summary>After each window (plus a grace of a tenth of it for late reports), tests it against the references and raises alerts.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        var window = _options.Monitoring.Window;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                var now = _time.GetUtcNow();
                var current = Monitor.WindowOf(now);
                var nextEnd = DateTimeOffset.FromUnixTimeMilliseconds((current + 1) * (long)window.TotalMilliseconds) + window / 10;
                await Task.Delay(nextEnd - now, _time, stopping).ConfigureAwait(false);
                await EvaluateAsync(current, stopping).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Tests <paramref name="window"/> for every (version, cohort) with a reference; drifted ones are logged, published on the alerts topic and kept for the API.</summary>
    public async Task<IReadOnlyList<DriftReport>> EvaluateAsync(long window, CancellationToken cancellationToken)
    {
        var reports = Monitor.Evaluate(window);
        foreach (var (version, reference) in Monitor.TakeFormedPredictionReferences())
        {
            _stores.Registry.SavePredictionReference(_options.ModelName, version, reference.ToProto().ToByteArray());
        }
        lock (_gate)
        {
            foreach (var report in reports) _reports.Enqueue(report);
            while (_reports.Count > 1000) _reports.Dequeue();
        }

        foreach (var report in reports.Where(r => r.DatasetDrift || r.Drifted > 0 || r.PredictionDrift))
        {
            Interlocked.Increment(ref _alerts);
            if (report.DatasetDrift || report.Drifted > 0) _logger.LogDrift(report.Version, report.Cohort, report.Window, report.Drifted, report.Judged, DriftText.Features(report));
            if (report.PredictionDrift) _logger.LogPredictionDrift(report.Version, report.Cohort, report.Window, report.DriftedOutputs.Count, report.OutputsJudged, DriftText.Outputs(report));
            Webhook?.Enqueue(report);
            try
            {
                await _publisher.PublishAsync(_topics.Alerts, JsonSerializer.SerializeToUtf8Bytes(report, MonitoringJson.Default.DriftReport), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
            {
                _logger.LogRepublishFailed("drift alert: " + ex.Message);
            }
        }

        var policy = _options.Monitoring.RetrainOn;
        var head = _models.Head.Record.Version;
        var trigger = reports.FirstOrDefault(r => r.Version == head && policy switch
        {
            RetrainTrigger.Feature => r.Drifted > 0,
            RetrainTrigger.Dataset => r.DatasetDrift,
            RetrainTrigger.Prediction => r.PredictionDrift,
            _ => false,
        });
        if (trigger is not null) TriggerRetraining(trigger);
        return reports;
    }

    /// <summary>Starts a round because the training head drifted (policy <c>Monitoring:RetrainOn</c>), at most once per cooldown; audited.</summary>
    private void TriggerRetraining(DriftReport report)
    {
        var now = _time.GetUtcNow();
        if (Retrain is not { } retrain || now - _lastRetrain < _options.Monitoring.RetrainCooldown || Interlocked.Exchange(ref _retrainPending, 1) == 1) return;
        _lastRetrain = now;
        var why = report.PredictionDrift && _options.Monitoring.RetrainOn == RetrainTrigger.Prediction
            ? $"prediction drift in cohort {report.Cohort} of v{report.Version}, window {report.Window}: {DriftText.Outputs(report)}"
            : $"drift in cohort {report.Cohort} of v{report.Version}, window {report.Window}: features {string.Join(", ", report.DriftedFeatures.Select(f => f.Feature))}";
        _stores.Audit.Append(now, "system:drift-policy", "round.trigger", $"model/{_options.ModelName}", why, null, null);
        _ = Task.Run(async () =>
        {
            try
            {
                await retrain(_stopping).ConfigureAwait(false);
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

    /// <summary>A version's reference from the registry; null when it is not there, cannot be read (counted and logged) or the store is out of reach now.</summary>
    private WindowProfile? ReadReference(FleetMonitor monitor, ulong version)
    {
        try
        {
            return _stores.Registry.Reference(_options.ModelName, version) is { } bytes ? monitor.Read(ProfileReport.Parser.ParseFrom(bytes)) : null;
        }
        catch (Exception ex) when (ex is InvalidDataException or InvalidProtocolBufferException)
        {
            _logger.LogRejected("registry", RejectionReason.BadProfile, $"reference profile of v{version}: {ex.Message}");
            return null;
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or Storage.StoreException)
        {
            _logger.LogRejected("registry", RejectionReason.StoreUnavailable, $"reference profile of v{version} not read now: {ex.Message}");
            return null;
        }
    }

    /// <summary>The fleet monitor with the registry's reference profiles (one that cannot be read is counted and skipped).</summary>
    private FleetMonitor OpenMonitor()
    {
        var monitor = _options.Model.Graph?.Tensors is { } tensors
            ? new FleetMonitor(_options.Monitoring, tensors.MonitoredWidth, 0, referenceFromProduction: true)
            : new FleetMonitor(_options.Monitoring, _options.Model.MonitoredWidth, _options.Model.Classes, outputs: _options.Model.Targets);
        monitor.ReferenceSource = version => ReadReference(monitor, version);

        // The newest two references are read now; the others when a window or a card asks for them (FleetMonitor.Unload).
        var versions = _stores.Registry.ReferenceVersions(_options.ModelName);
        foreach (var version in versions.SkipLast(2)) monitor.ReferenceWaits(version);
        foreach (var version in versions.TakeLast(2))
        {
            if (ReadReference(monitor, version) is { } reference) monitor.SetReference(version, reference);
        }

        foreach (var (version, bytes) in _stores.Registry.PredictionReferences(_options.ModelName))
        {
            try
            {
                monitor.SetPredictionReference(version, monitor.Read(ProfileReport.Parser.ParseFrom(bytes)));
            }
            catch (Exception ex) when (ex is InvalidDataException or InvalidProtocolBufferException)
            {
                _logger.LogRejected("registry", RejectionReason.BadProfile, $"prediction reference of v{version}: {ex.Message}");
            }
        }

        foreach (var (version, cohort, bytes) in _stores.Registry.CohortReferences(_options.ModelName))
        {
            try
            {
                monitor.SetCohortReference(version, cohort, monitor.Read(ProfileReport.Parser.ParseFrom(bytes)));
            }
            catch (Exception ex) when (ex is InvalidDataException or InvalidProtocolBufferException)
            {
                _logger.LogRejected("registry", RejectionReason.BadProfile, $"reference profile of v{version} for cohort {cohort}: {ex.Message}");
            }
        }

        return monitor;
    }
}
