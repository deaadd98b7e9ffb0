using System.Text.Json;
using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Rollouts;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Rollouts;

/// <summary>
/// Staged rollouts: one signed, retained plan per fleet; devices place themselves in stages by a
/// stable hash. The manager counts progress per stage from device statuses, judges the gates
/// (reporting devices, failures, error rate, latency and ground-truth accuracy against the
/// replaced version), advances, or aborts by itself — an abort is a signed rollback directive.
/// Every change is audited.
/// </summary>
public sealed partial class RolloutManager
{
    private readonly AggregatorOptions _options;
    private readonly FleetStores _stores;
    private readonly DeviceDirectory _devices;
    private readonly RolloutPlans _plans;
    private readonly FleetPublisher _publisher;
    private readonly Shared.Protocol.Topics _topics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private RolloutRecord? _active;

    /// <param name="options">The fleet, its model and its governance settings.</param>
    /// <param name="stores">Registry, governance, keys and audit log.</param>
    /// <param name="devices">The fleet's devices and their rollout progress.</param>
    /// <param name="signer">Signs the target's and the previous version's manifests into the plan.</param>
    /// <param name="publisher">Publishes the plan, retained.</param>
    /// <param name="artifactBaseUrl">Where devices download artifacts (known once the HTTP server is up).</param>
    /// <param name="time">The clock gates and plans read.</param>
    /// <param name="logger">Where rollout actions are logged.</param>
    public RolloutManager(AggregatorOptions options, FleetStores stores, DeviceDirectory devices, Trust.ManifestSigner signer, FleetPublisher publisher, Func<Uri> artifactBaseUrl, TimeProvider time, ILogger<RolloutManager> logger)
    {
        _options = options;
        _stores = stores;
        _devices = devices;
        _plans = new RolloutPlans(options.ProtocolFleet, stores, signer, artifactBaseUrl);
        _publisher = publisher;
        _topics = options.Topics;
        _time = time;
        _logger = logger;
    }

    /// <summary>The rollout whose plan is retained now (active, paused, or the last finished one).</summary>
    public RolloutRecord? Current
    {
        get { lock (_gate) return _active; }
    }

    public IReadOnlyList<RolloutRecord> All() =>
        _stores.Registry.Rollouts(_options.ModelName).Select(spec => JsonSerializer.Deserialize(spec, RolloutJson.Default.RolloutRecord)!).ToArray();

    public RolloutRecord? Find(string id) => All().FirstOrDefault(r => r.Id == id);

    /// <summary>Creates and publishes a rollout. The version must be validated (canary only) or approved.</summary>
    public async Task<RolloutRecord> CreateAsync(string actor, RolloutRequest request, CancellationToken cancellationToken)
    {
        if (_options.Governance.Mode != DeploymentMode.Governed)
        {
            throw new GovernanceException("rollouts need Governance:Mode=governed; in auto mode every new version is served fleet-wide at once");
        }

        var stages = request.ResolveStages();
        request.Gates.Validate();
        request.Health.Validate();
        request.Shadow?.Validate();
        request.Experiment?.Validate();
        if (request.Experiment is { } test && (Experiments.ExperimentMetric.Parse(test.Metric).Kind == Experiments.MetricKind.SquaredError) != _options.Model.TakesTargets)
        {
            // Devices count class labels for a classifier's A/B test, squared errors on targets for a regressor's.
            throw new ArgumentException(_options.Model.TakesTargets
                ? $"{_options.Model.KindName}'s A/B test compares the arms' {(_options.Model.IsPerPosition || _options.Model.IsMultiTask ? _options.Model.SquaredErrorName : "mean squared error")} on targets: metric 'mse' with higherIsBetter false and the design's standard deviation of one squared error (CLI --ab-metric mse --ab-lower-is-better --ab-sd S); '{test.Metric}' counts class labels"
                : $"metric 'mse' compares a regressor's or multi-label classifier's squared errors; {_options.ModelName} is a classifier");
        }

        var version = _stores.Governance.Find(_options.ModelName, request.Version);
        ModelGovernance.RefusePruned(version, "rolled out");
        if (version.State is not (VersionStates.Validated or VersionStates.Approved or VersionStates.Deployed or VersionStates.Archived))
        {
            throw new GovernanceException($"{version.Model} v{version.Version} is {version.State}; only validated (canary only) or approved versions can be rolled out");
        }

        // Devices refuse a version that is not newer than theirs (anti-rollback): such a rollout would fail on every device.
        if (_stores.Governance.Deployed(_options.ModelName) is { } deployed && version.Version <= deployed.Version)
        {
            throw new GovernanceException($"{version.Model} v{version.Version} is not newer than the deployed v{deployed.Version}: devices refuse downgrades, so it would fail everywhere; roll out a newer version");
        }

        RolloutRecord record;
        lock (_gate)
        {
            if (_active is { State: RolloutStatusKind.Active or RolloutStatusKind.Paused or RolloutStatusKind.Shadow or RolloutStatusKind.Experiment } running)
            {
                throw new GovernanceException($"rollout {running.Id} is still {running.State.ToString().ToLowerInvariant()}; abort or finish it first");
            }

            record = new RolloutRecord
            {
                Id = $"{version.Model}-v{version.Version}-{_time.GetUtcNow().ToUnixTimeMilliseconds():x}",
                Model = version.Model,
                Request = request,
                Stages = stages,
                PreviousVersion = _stores.Governance.Deployed(_options.ModelName)?.Version ?? 0,
                CreatedBy = actor,
                CreatedAt = _time.GetUtcNow(),
                State = request.Shadow is not null ? RolloutStatusKind.Shadow : request.Experiment is not null ? RolloutStatusKind.Experiment : RolloutStatusKind.Active,
                Note = request.Shadow is { } shadow ? FormattableString.Invariant($"shadow on {shadow.Share:P0} of the cohort")
                    : request.Experiment is { } experiment ? ExperimentNote(experiment)
                    : "stage 1 open",
            };
            _active = record;
        }

        if (FirstStageWarning(record) is { } warning)
        {
            record = record with { Note = record.Note + "; warning: " + warning };
            lock (_gate) _active = record;
        }

        Save(record, actor, "rollout.create", request.Reason, null);
        await PublishAsync(record, cancellationToken).ConfigureAwait(false);
        return record;
    }

    public Task<RolloutRecord> PauseAsync(string actor, string id, string reason, CancellationToken cancellationToken) =>
        ChangeAsync(actor, id, "rollout.pause", reason, r => r.State == RolloutStatusKind.Active ? r with { State = RolloutStatusKind.Paused, Note = "paused: " + reason } : Refuse(r, "pause"), cancellationToken);

    public Task<RolloutRecord> ResumeAsync(string actor, string id, string reason, CancellationToken cancellationToken) =>
        ChangeAsync(actor, id, "rollout.resume", reason, r => r.State == RolloutStatusKind.Paused ? r with { State = RolloutStatusKind.Active, Note = "resumed: " + reason } : Refuse(r, "resume"), cancellationToken);

    public Task<RolloutRecord> AbortAsync(string actor, string id, string reason, CancellationToken cancellationToken) =>
        ChangeAsync(actor, id, "rollout.abort", reason, r => r.State is RolloutStatusKind.Active or RolloutStatusKind.Paused or RolloutStatusKind.Shadow or RolloutStatusKind.Experiment ? r with { State = RolloutStatusKind.Aborted, Note = "aborted: " + reason } : Refuse(r, "abort"), cancellationToken);

    /// <summary>
    /// Takes a completed rollout back: its plan turns into a signed rollback directive (devices on the target
    /// return to the version it replaced, which the plan carries signed), the target is archived and the replaced
    /// version deployed again. Only the latest rollout, only while its version is the deployed one.
    /// </summary>
    public Task<RolloutRecord> RollbackAsync(string actor, string id, string reason, CancellationToken cancellationToken) =>
        ChangeAsync(actor, id, "rollout.rollback", reason, r => RollBack(r, reason), cancellationToken);

    private RolloutRecord RollBack(RolloutRecord r, string reason)
    {
        if (r.State != RolloutStatusKind.Completed) throw new GovernanceException($"rollout {r.Id} is {r.State.ToString().ToLowerInvariant()}: abort it instead (rollback is for a completed rollout)");
        if (_stores.Governance.Deployed(_options.ModelName)?.Version != r.Request.Version) throw new GovernanceException($"v{r.Request.Version} of rollout {r.Id} is no longer the deployed version");
        if (r.PreviousVersion == 0) throw new GovernanceException($"rollout {r.Id} replaced no version: there is nothing to roll back to");
        return r with { State = RolloutStatusKind.Aborted, Note = $"rolled back to v{r.PreviousVersion} after completion: {reason}" };
    }

    /// <summary>Opens the next stage (by an operator, or by the gates). Beyond the canary the version must be approved.</summary>
    public Task<RolloutRecord> AdvanceAsync(string actor, string id, string reason, CancellationToken cancellationToken) =>
        ChangeAsync(actor, id, "rollout.advance", reason, Advance, cancellationToken);

    private RolloutRecord Advance(RolloutRecord r)
    {
        // Out of the shadow (into the A/B test, if any) and out of the A/B test into the first stage: a canary, which a
        // validated version may reach without approval.
        if (r.State == RolloutStatusKind.Shadow && r.Request.Experiment is { } experiment) return r with { State = RolloutStatusKind.Experiment, Note = "shadow passed; " + ExperimentNote(experiment) };
        if (r.State == RolloutStatusKind.Shadow) return r with { State = RolloutStatusKind.Active, Stage = 0, Note = "shadow passed; stage 1 open" };
        if (r.State == RolloutStatusKind.Experiment) return r with { State = RolloutStatusKind.Active, Stage = 0, Note = "A/B test passed; stage 1 open" };
        if (r.State != RolloutStatusKind.Active) return Refuse(r, "advance");
        var version = _stores.Governance.Find(r.Model, r.Request.Version);
        if (version.State is not (VersionStates.Approved or VersionStates.Deployed or VersionStates.Archived))
        {
            throw new GovernanceException($"{r.Model} v{r.Request.Version} is {version.State}: approval is required before any stage beyond the canary");
        }

        return r.Stage + 1 < r.Stages.Length
            ? r with { Stage = r.Stage + 1, Note = $"stage {r.Stage + 2} open" }
            : r with { State = RolloutStatusKind.Completed, Note = "completed: every stage passed" };
    }

    private static RolloutRecord Refuse(RolloutRecord r, string action) =>
        throw new GovernanceException($"rollout {r.Id} is {r.State.ToString().ToLowerInvariant()} and cannot {action}");

    private async Task<RolloutRecord> ChangeAsync(string actor, string id, string action, string reason, Func<RolloutRecord, RolloutRecord> change, CancellationToken cancellationToken)
    {
        RolloutRecord before, after;
        lock (_gate)
        {
            before = _active is { } a && a.Id == id ? a : Find(id) ?? throw new KeyNotFoundException($"no rollout {id}");
            if (_active?.Id != id) throw new GovernanceException($"rollout {id} is not the fleet's current rollout");
            after = change(before) with { Revision = before.Revision + 1 };

            // The registry follows before anyone can see the new state (a next rollout records what it replaces).
            if (after.State == RolloutStatusKind.Completed) Deploy(after, actor);
            else if (before.State == RolloutStatusKind.Completed) Undeploy(after, actor, reason);
            _active = after;
        }

        Save(after, actor, action, reason, before);
        await PublishAsync(after, cancellationToken).ConfigureAwait(false);
        LogRollout(id, action, reason);
        return after;
    }

    /// <summary>Judges the gates of the active rollout once: waits, advances, completes or aborts.</summary>
    public async Task<RolloutView?> EvaluateAsync(CancellationToken cancellationToken)
    {
        var rollout = Current;
        if (rollout is not { State: RolloutStatusKind.Active or RolloutStatusKind.Shadow or RolloutStatusKind.Experiment }) return rollout is null ? null : View(rollout);
        var view = View(rollout);
        var verdict = view.Gate.Verdict;
        if (verdict.Outcome == GateOutcome.Fail)
        {
            var actor = rollout.State switch { RolloutStatusKind.Shadow => "system:shadow-gate", RolloutStatusKind.Experiment => "system:ab-test", _ => "system:rollout-gates" };
            await AbortAsync(actor, rollout.Id, verdict.Reason, cancellationToken).ConfigureAwait(false);
        }
        else if (rollout.State == RolloutStatusKind.Shadow)
        {
            if (verdict.Outcome == GateOutcome.Pass && rollout.Request.Shadow is { AutoPromote: true })
            {
                await AdvanceAsync("system:shadow-gate", rollout.Id, ShadowSummary(view.Shadow!), cancellationToken).ConfigureAwait(false);
            }
        }
        else if (rollout.State == RolloutStatusKind.Experiment)
        {
            if (verdict.Outcome == GateOutcome.Pass) await AdvanceAsync("system:ab-test", rollout.Id, verdict.Reason, cancellationToken).ConfigureAwait(false);
            else if (view.Experiment is { NextSplit: { } next } test) await RebalanceAsync(rollout, test, next, cancellationToken).ConfigureAwait(false);
        }
        else if (verdict.Outcome == GateOutcome.Pass && rollout.Request.AutoAdvance)
        {
            var version = _stores.Governance.Find(rollout.Model, rollout.Request.Version);
            if (version.State is VersionStates.Approved or VersionStates.Deployed or VersionStates.Archived)
            {
                await AdvanceAsync("system:rollout-gates", rollout.Id, $"stage {rollout.Stage + 1} gates passed", cancellationToken).ConfigureAwait(false);
            }
            else if (!rollout.Note.StartsWith("waiting", StringComparison.Ordinal))
            {
                lock (_gate) _active = rollout with { Note = "waiting for approval: canary gates passed" };
            }
        }

        return View(Current!);
    }

    /// <summary>A bandit's step: the split moves (a new plan revision), and the allocation history records where it stands.</summary>
    private Task<RolloutRecord> RebalanceAsync(RolloutRecord rollout, ExperimentView test, double next, CancellationToken cancellationToken)
    {
        var r = test.Reading;
        var point = new Experiments.AllocationPoint(_time.GetUtcNow(), next, r.LabelledA, r.LabelledB, r.AccuracyA, r.AccuracyB, test.ProbabilityBBetter ?? 0.5,
            Experiments.ThompsonAllocation.RegretSince(rollout.Allocation.LastOrDefault(), r.CorrectA, r.LabelledA, r.CorrectB, r.LabelledB));
        var reason = FormattableString.Invariant($"split {rollout.Split ?? rollout.Request.Experiment!.Split:P0} → {next:P0}: P(B better) = {point.ProbabilityBBetter:F3} over {r.LabelledA + r.LabelledB} labels");
        return ChangeAsync("system:bandit", rollout.Id, "rollout.rebalance", reason, x => x with { Split = next, Allocation = [.. x.Allocation, point] }, cancellationToken);
    }

    private static string ExperimentNote(ExperimentRequest e) => FormattableString.Invariant(
        $"A/B test on {e.Share:P0} of the cohort, {e.Split:P0} of {(e.Unit == Experiments.RandomisationUnit.Device ? "its devices" : "requests")} to the version ({e.Design.Mode}, at most {e.Design.HorizonPerArm()} labels per arm)");

    private static string ShadowSummary(ShadowReading s) => FormattableString.Invariant(
        $"shadow gate passed: {s.Scored} requests on {s.Devices} devices, agreement {s.Agreement:P1}, accuracy {s.CandidateAccuracy:F4} against {s.IncumbentAccuracy:F4} on {s.Labelled} labelled");

    /// <summary>
    /// Why the first phase would wait for devices that do not exist — none of the known devices falls in it, or fewer
    /// than its gate needs (the share is drawn by a hash of the rollout id, so a small share of a small fleet can hold
    /// one device where the gate wants two) — or null.
    /// </summary>
    private string? FirstStageWarning(RolloutRecord record)
    {
        var known = _devices.All.Count;
        if (BeforeStages(record))
        {
            var plan = _plans.Build(record, signManifest: false);
            var included = _devices.All.Count(d => RolloutMembership.IsShadowing(d.DeviceId, d.Tags, plan) || RolloutMembership.IsInExperiment(d.DeviceId, d.Tags, plan));
            var phase = record.State == RolloutStatusKind.Shadow ? "shadow" : "A/B test";
            var needed = record.State == RolloutStatusKind.Shadow ? record.Request.Shadow?.MinDevices ?? 1 : 1;
            if (included >= needed) return null;
            return included == 0
                ? $"the {phase} share includes none of the {known} known devices; it waits until one joins"
                : $"the {phase} share includes {included} of the {known} known devices and its gate needs {needed}; it waits until more join (a larger share reaches more now)";
        }

        var first = View(record).Stages[0];
        var minimum = record.Request.Gates.MinDevicesReporting;
        if (first.Targeted >= minimum) return null;
        var devices = $"{known} known device{(known == 1 ? string.Empty : "s")}{(record.Request.Cohort.Count > 0 ? " in the cohort" : string.Empty)}";
        return first.Targeted == 0
            ? $"stage 1 ({first.Share * 100:0.##}%) targets none of the {devices}; it waits until one joins (a larger first stage reaches some now)"
            : $"stage 1 ({first.Share * 100:0.##}%) targets {first.Targeted} of the {devices} and its gate needs {minimum} reporting; it waits until more join (a larger first stage reaches more now)";
    }

    /// <summary>Per-stage counts and the gate reading for <paramref name="rollout"/>, from the devices' latest statuses.</summary>
    public RolloutView View(RolloutRecord rollout)
    {
        var plan = _plans.Build(rollout, signManifest: false);
        var stages = rollout.Stages.Select((share, i) => new int[6]).ToArray();
        var target = new List<DeviceInfo>();
        var baseline = new List<DeviceInfo>();
        int reporting = 0, bad = 0, awaited = 0, lostInTrial = 0;
        var now = _time.GetUtcNow();
        foreach (var device in _devices.All)
        {
            if (device.ModelName.Length > 0 && device.ModelName != rollout.Model) continue;
            if (!RolloutMembership.InCohort(device.Tags, plan)) continue;
            var stage = RolloutMembership.StageOf(device.DeviceId, plan);
            if (stage < 0) continue;
            var progress = device.Rollout is { } p && p.RolloutId == rollout.Id ? p : null;
            var opened = !BeforeStages(rollout) && (stage <= rollout.Stage || rollout.State == RolloutStatusKind.Completed);
            if (!opened)
            {
                if (device.ModelVersion == rollout.PreviousVersion) baseline.Add(device);
                continue;
            }

            var counts = stages[stage];
            counts[0]++;
            // The gate waits for devices that can answer (online, not silent past their status interval), for those that
            // reported, and for any that began this version's health window and then went quiet: a device lost in its
            // trial is missing data — it may be the version that took it down — never a reason to pass or to fail.
            var answering = device.State == DeviceState.Online && !device.IsSilent(now);
            if (answering || progress is { Phase: RolloutPhase.Trial or RolloutPhase.Healthy or RolloutPhase.Failed or RolloutPhase.RolledBack }) awaited++;
            if (!answering && progress is { Phase: RolloutPhase.Trial }) lostInTrial++;
            switch (progress?.Phase)
            {
                case RolloutPhase.Trial: counts[1]++; break;
                case RolloutPhase.Healthy: counts[1]++; counts[2]++; reporting++; target.Add(device); break;
                case RolloutPhase.Failed: counts[3]++; reporting++; bad++; break;
                case RolloutPhase.RolledBack: counts[4]++; reporting++; bad++; break;
            }
        }

        var views = stages.Select((c, i) => new StageProgress(i + 1, rollout.Stages[i], !BeforeStages(rollout) && (i <= rollout.Stage || rollout.State == RolloutStatusKind.Completed), c[0], c[1], c[2], c[3], c[4])).ToArray();
        var gate = StageGate.Judge(rollout.Request.Gates, reporting, bad, awaited, target, baseline, lostInTrial, _options.Model.TakesTargets ? _options.Model.SquaredErrorName : null);
        var shadow = rollout.Request.Shadow is { } policy ? JudgeShadow(rollout, policy, plan) : null;
        var experiment = rollout.Request.Experiment is { } test
            ? ExperimentGate.Judge(test, _devices.All.Select(d => d.Experiment).OfType<ExperimentReport>().Where(r => r.RolloutId == rollout.Id && r.B?.Version == rollout.Request.Version).ToArray(),
                rollout.Split ?? test.Split, rollout.Allocation.LastOrDefault())
            : null;
        gate = rollout.State switch
        {
            RolloutStatusKind.Shadow => gate with { Verdict = shadow!.Verdict },
            RolloutStatusKind.Experiment => gate with { Verdict = experiment!.Verdict },
            _ => gate,
        };
        return new RolloutView(rollout, views, gate, shadow, experiment);
    }

    /// <summary>True while the rollout is in its shadow phase or A/B test: no stage is open, nobody switched.</summary>
    private static bool BeforeStages(RolloutRecord rollout) => rollout.State is RolloutStatusKind.Shadow or RolloutStatusKind.Experiment;

    /// <summary>The shadow test of <paramref name="rollout"/> from the reports of the devices in its shadow share.</summary>
    private ShadowReading JudgeShadow(RolloutRecord rollout, ShadowRequest policy, RolloutPlan plan)
    {
        var reports = new List<ShadowReport>();
        var failed = 0;
        foreach (var device in _devices.All)
        {
            if (device.Shadow is { } report && report.RolloutId == rollout.Id && report.CandidateVersion == rollout.Request.Version)
            {
                reports.Add(report);
            }
            else if (device.Rollout is { Phase: RolloutPhase.Failed } p && p.RolloutId == rollout.Id && RolloutMembership.IsShadowing(device.DeviceId, device.Tags, plan))
            {
                failed++;
            }
        }

        return ShadowGate.Judge(policy, rollout.Request.Gates, reports, failed, _options.Model.TakesTargets, _options.Model.SquaredErrorName);
    }

    /// <summary>The signed plan for <paramref name="rollout"/>, retained on the fleet's rollout topic.</summary>
    private async Task PublishAsync(RolloutRecord rollout, CancellationToken cancellationToken)
    {
        await _publisher.PublishRetainedAsync(_topics.Rollout, _stores.Keys.Sign(_plans.Build(rollout, signManifest: true)).ToByteArray(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Re-signs and republishes the current plan (key rotation, manifest expiry, restart).</summary>
    public async Task RepublishAsync(CancellationToken cancellationToken)
    {
        if (Current is { } rollout) await PublishAsync(rollout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Loads the last rollout after a restart and republishes its plan.</summary>
    internal async Task RestoreAsync(CancellationToken cancellationToken)
    {
        var last = All().LastOrDefault();
        lock (_gate) _active = last;
        if (last is not null) await PublishAsync(last, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A completed rollout deploys its version; the one it replaced is archived.</summary>
    private void Deploy(RolloutRecord rollout, string actor)
    {
        var version = _stores.Governance.Find(rollout.Model, rollout.Request.Version);
        if (version.State == VersionStates.Deployed) return;
        var previous = _stores.Governance.Deployed(_options.ModelName);
        _stores.Governance.Move(version, VersionStates.Deployed, actor, $"rollout {rollout.Id} reached every stage");
        if (previous is not null && previous.Version != version.Version) _stores.Governance.Move(previous, VersionStates.Archived, actor, $"replaced by v{version.Version} (rollout {rollout.Id})");
    }

    /// <summary>A completed rollout taken back: its version archived, the one it replaced deployed again.</summary>
    private void Undeploy(RolloutRecord rollout, string actor, string reason)
    {
        _stores.Governance.Move(_stores.Governance.Find(rollout.Model, rollout.Request.Version), VersionStates.Archived, actor, $"rolled back (rollout {rollout.Id}): {reason}");
        var previous = _stores.Governance.Find(rollout.Model, rollout.PreviousVersion);
        if (previous.State != VersionStates.Deployed) _stores.Governance.Move(previous, VersionStates.Deployed, actor, $"deployed again by the rollback of rollout {rollout.Id}");
    }

    private void Save(RolloutRecord record, string actor, string action, string reason, RolloutRecord? before)
    {
        var json = JsonSerializer.Serialize(record, RolloutJson.Default.RolloutRecord);
        _stores.Registry.SaveRollout(record.Id, record.Model, record.Request.Version, json, record.State.ToString().ToLowerInvariant(), record.Stage, record.Revision, record.CreatedAt);
        _stores.Audit.Append(_time.GetUtcNow(), actor, action, $"rollout/{record.Id}", reason,
            before is null ? null : Summary(before), Summary(record));
    }

    private static string Summary(RolloutRecord r) => FormattableString.Invariant($"v{r.Request.Version} {r.State.ToString().ToLowerInvariant()} stage {r.Stage + 1}/{r.Stages.Length} rev {r.Revision}");

    [LoggerMessage(EventId = 2041, Level = LogLevel.Information, Message = "Rollout {RolloutId}: {Action} ({Reason})")]
    internal partial void LogRollout(string rolloutId, string action, string reason);

    /// <summary>Judges the active rollout's gates every <see cref="GovernanceOptions.RolloutCheckInterval"/> until <paramref name="stopping"/>.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                await Task.Delay(_options.Governance.RolloutCheckInterval, _time, stopping).ConfigureAwait(false);
                try
                {
                    await EvaluateAsync(stopping).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
                {
                    LogRollout(Current?.Id ?? "-", "gate check failed", ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
