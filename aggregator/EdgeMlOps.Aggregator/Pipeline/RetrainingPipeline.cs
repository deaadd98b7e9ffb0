using System.Globalization;
using System.Text.Json;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Aggregator.Rounds;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Pipeline;

/// <summary>
/// The automated retraining pipeline: a trigger (<see cref="PipelineTriggers"/>) starts a run; the run trains federated
/// rounds from the deployed version on the devices' fresh labels, puts the candidate through the gates
/// (<see cref="CandidateValidation"/>), waits for the approvals its policy asks for (never from the version's creator;
/// distinct people), then rolls it out — shadow on the canary's devices, then the stages — and ends Completed when the
/// rollout completes or Stopped with the reason (a gate, an aborted rollout, an operator). One run at a time; every
/// step is an audit entry and is stored in the registry, so a restarted aggregator resumes the run where it was. An
/// operator can pause (no new run starts; a run stops moving at its next step), resume, start a run by hand and stop one.
/// </summary>
public sealed class RetrainingPipeline
{
    public const string Actor = "system:pipeline";
    private const int RecentRuns = 50;
    private readonly AggregatorOptions _options;
    private readonly FleetStores _stores;
    private readonly ModelRepository _models;
    private readonly VersionUploads _uploads;
    private readonly RolloutManager _rollouts;
    private readonly DriftWatch _drift;
    private readonly CandidateValidation _validation;
    private readonly Func<CancellationToken, Task<RoundReport>> _round;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _stepping = new(1, 1);
    private PipelineRun? _active;

    public RetrainingPipeline(
        AggregatorOptions options, FleetStores stores, ModelRepository models, VersionUploads uploads, RolloutManager rollouts, DriftWatch drift,
        CandidateValidation validation, Func<CancellationToken, Task<RoundReport>> round, TimeProvider time, ILogger logger)
    {
        (_options, _stores, _models, _uploads, _rollouts, _drift, _validation, _round, _time, _logger) = (options, stores, models, uploads, rollouts, drift, validation, round, time, logger);
        Policies = new PipelinePolicies(options, stores, time);
        _active = Runs(RecentRuns).FirstOrDefault(r => !r.IsFinal); // resumed after a restart
    }

    /// <summary>The policy in force: the one set through the admin API (kept in the registry), else configuration's.</summary>
    public PipelinePolicy Policy => Policies.Current;

    /// <summary>Where the policy comes from, and how an approver replaces it.</summary>
    public PipelinePolicies Policies { get; }

    public bool Paused => _stores.Registry.PipelinePaused(_options.ModelName).Paused;

    public PipelineRun? Active
    {
        get { lock (_gate) return _active; }
    }

    public IReadOnlyList<PipelineRun> Runs(int limit) =>
        _stores.Registry.PipelineRuns(_options.ModelName, limit).Select(json => JsonSerializer.Deserialize(json, PipelineJson.Default.PipelineRun)!).ToArray();

    public PipelineRun? Find(string id) => Runs(RecentRuns).FirstOrDefault(r => r.Id == id);

    public PipelineView View()
    {
        var (paused, by) = _stores.Registry.PipelinePaused(_options.ModelName);
        return new PipelineView(Policy, Policies.Source, paused, by, Active, Runs(20));
    }

    /// <summary>Starts a run now (an operator's, or a trigger's); refused while one is active or outside governed mode.</summary>
    public PipelineRun Start(PipelineTrigger trigger, string actor)
    {
        if (_options.Governance.Mode != DeploymentMode.Governed)
        {
            throw new GovernanceException("the retraining pipeline needs Governance:Mode=governed: in auto mode every new version is served fleet-wide at once, with no gates or shadow");
        }

        if (ServeOnlyModel.StopReason(_options) is { } serveOnly) throw new GovernanceException($"nothing to retrain: {serveOnly}");
        if (_models.Deployed is not { } deployed) throw new GovernanceException("no deployed version to retrain from: roll out a first version");
        var now = _time.GetUtcNow();
        PipelineRun run;
        lock (_gate)
        {
            if (_active is { } running) throw new GovernanceException($"pipeline run {running.Id} is {Describe(running.Stage)}; stop it first");
            run = new PipelineRun
            {
                Id = $"{_options.ModelName}-run-{now.ToUnixTimeMilliseconds():x}",
                Model = _options.ModelName,
                Trigger = trigger,
                Policy = Policy,
                BaseVersion = deployed.Version,
                StartedAt = now,
                LastWindow = _drift.Recent.Select(r => r.Window).DefaultIfEmpty(-1).Max(),
                Note = "training",
            };
            run = run with { Steps = [new PipelineStep(now, "start", actor, $"{trigger.Kind}: {trigger.Detail}; from deployed v{deployed.Version}, {Policy.Rounds} rounds")] };
            _active = run;
        }

        Record(run, run.Steps[0], null, PipelineStage.Training);
        return run;
    }

    /// <summary>An approval of the active run's candidate by a person; the rollout starts once the policy's count of distinct approvers is reached.</summary>
    public async Task<PipelineRun> ApproveAsync(string actor, string reason, CancellationToken cancellationToken)
    {
        var run = Active ?? throw new KeyNotFoundException("no pipeline run is active");
        if (run.Stage != PipelineStage.AwaitingApproval) throw new GovernanceException($"pipeline run {run.Id} is {Describe(run.Stage)}, not awaiting approval");
        var candidate = _stores.Governance.Find(run.Model, run.Candidate);
        if (string.Equals(actor, candidate.CreatedBy, StringComparison.Ordinal) || actor.StartsWith("system:", StringComparison.Ordinal))
        {
            throw new GovernanceException($"four eyes: {actor} cannot approve v{run.Candidate} (created by {candidate.CreatedBy})", forbidden: true);
        }

        if (run.Approvals.Contains(actor, StringComparer.Ordinal)) throw new GovernanceException($"{actor} already approved v{run.Candidate}; the run needs {run.RequiredApprovals} different people");
        run = Update(run, r => r with { Approvals = [.. r.Approvals, actor], Note = $"approved by {string.Join(", ", r.Approvals.Append(actor))}" }, "approve", actor, reason);
        await StepAsync(cancellationToken).ConfigureAwait(false);
        return Active ?? Find(run.Id) ?? run;
    }

    public void Pause(string actor, string reason)
    {
        _stores.Registry.SetPipelinePaused(_options.ModelName, true, actor);
        _stores.Audit.Append(_time.GetUtcNow(), actor, "pipeline.pause", Subject, reason, "running", "paused");
    }

    public void Resume(string actor, string reason)
    {
        // Recorded before the pipeline may run again: a run its loop starts at once comes after the resume in the audit
        // chain and in time, never a few milliseconds before it.
        _stores.Audit.Append(_time.GetUtcNow(), actor, "pipeline.resume", Subject, reason, "paused", "running");
        _stores.Registry.SetPipelinePaused(_options.ModelName, false, null);
    }

    /// <summary>Stops the active run (aborting its rollout if one runs); the candidate is not served beyond what the rollout had done.</summary>
    public async Task<PipelineRun> StopAsync(string actor, string reason, CancellationToken cancellationToken)
    {
        var run = Active ?? throw new KeyNotFoundException("no pipeline run is active");
        if (run.RolloutId is { } id && _rollouts.Current is { Id: var current, State: RolloutStatusKind.Active or RolloutStatusKind.Paused or RolloutStatusKind.Shadow or RolloutStatusKind.Experiment } && current == id)
        {
            await _rollouts.AbortAsync(actor, id, $"pipeline run {run.Id} stopped: {reason}", cancellationToken).ConfigureAwait(false);
        }

        return Finish(run, PipelineStage.Stopped, "stop", actor, $"stopped by {actor}: {reason}");
    }

    /// <summary>Looks at triggers and moves the active run, every <see cref="PipelinePolicy.CheckInterval"/> until stopped.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                try
                {
                    await StepAsync(stopping).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
                {
                    _logger.LogPipelineFailed(Active?.Id ?? "-", ex.Message); // a failed step is tried again at the next check
                }

                await Task.Delay(Policy.CheckInterval, _time, stopping).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>One step: start a run if a trigger fires, or move the active run as far as it can go now.</summary>
    public async Task StepAsync(CancellationToken cancellationToken)
    {
        await _stepping.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Paused) return;
            if (Active is not { } run)
            {
                if (Policy.Enabled && _models.Deployed is { } deployed && _options.Governance.Mode == DeploymentMode.Governed
                    && PipelineTriggers.Evaluate(Policy, TriggerFacts(deployed.Version)) is { } trigger)
                {
                    Start(trigger, Actor);
                }

                return;
            }

            switch (run.Stage)
            {
                case PipelineStage.Training: await TrainAsync(run, cancellationToken).ConfigureAwait(false); break;
                case PipelineStage.Validating: await ValidateAsync(run, cancellationToken).ConfigureAwait(false); break;
                case PipelineStage.AwaitingApproval: await ReleaseAsync(run, cancellationToken).ConfigureAwait(false); break;
                case PipelineStage.RollingOut: Watch(run); break;
            }
        }
        finally
        {
            _stepping.Release();
        }
    }

    private TriggerFacts TriggerFacts(ulong deployed)
    {
        var last = Runs(1).FirstOrDefault();
        return new TriggerFacts(_drift.Recent, deployed, _time.GetUtcNow(), last?.StartedAt, last?.LastWindow ?? -1);
    }

    /// <summary>Rounds from the deployed version (copied to a new head first when the head moved past it), then on to validation.</summary>
    private async Task TrainAsync(PipelineRun run, CancellationToken cancellationToken)
    {
        if (run.RoundsRun == 0 && run.Policy.FreshLabels > 0 && !run.Steps.Any(s => s.Step == "labels"))
        {
            var labels = _drift.Recent.Where(r => r.Cohort == FleetMonitor.AllCohorts && r.Window > run.LastWindow).Sum(r => r.Outcomes);
            if (labels < run.Policy.FreshLabels)
            {
                var waiting = $"waiting for fresh labels: {labels} of {run.Policy.FreshLabels} since the trigger";
                if (waiting != run.Note) Update(run, r => r with { Note = waiting }, null, Actor, string.Empty);
                return;
            }

            run = Update(run, r => r, "labels", Actor, $"{labels} labels since the trigger (policy: {run.Policy.FreshLabels})");
        }

        var deployed = _stores.Governance.Find(run.Model, run.BaseVersion);
        if (run.RoundsRun == 0 && _models.Head.Record.Version != deployed.Version && run.Candidate == 0)
        {
            var weights = EdgeMlOps.Shared.Onnx.ModelArtifacts.ReadWeights(_stores.Artifacts.Read(deployed.InferenceSha256), _models.Head.Weights.Spec);
            var copy = await _uploads.RegisterAsync(weights, Actor, $"pipeline run {run.Id}: training restarts from the deployed v{deployed.Version}", cancellationToken).ConfigureAwait(false);
            run = Update(run, r => r with { Note = $"training from v{copy.Version} (the deployed v{deployed.Version}'s weights)" }, "base", Actor, $"head v{copy.Version} = deployed v{deployed.Version}");
        }

        if (run.RoundsRun == 0 && run.Policy.Gates.FederatedDevices > 0 && run.FederatedBase is null)
        {
            var before = await _validation.FederatedAsync(run.Policy.Gates, cancellationToken).ConfigureAwait(false);
            run = Update(run, r => r with { FederatedBase = before }, "evaluate-base", Actor, before is null ? "not asked" : Invariant($"v{before.Version} on devices' data: accuracy {before.Accuracy:F4}, {before.Samples} samples on {before.Reported} devices"));
        }

        while (run.RoundsRun < run.Policy.Rounds)
        {
            if (Paused || Active?.Id != run.Id) return; // paused or stopped between rounds: go no further
            var report = await _round(cancellationToken).ConfigureAwait(false);
            if (report.Status == RoundStatus.Stopped)
            {
                Finish(run, PipelineStage.Stopped, "train", Actor, "the strategy refuses further rounds (privacy budget spent?)");
                return;
            }

            if (report.Status != RoundStatus.Completed)
            {
                Update(run, r => r with { Note = $"round {report.Round} {report.Status.ToString().ToLowerInvariant()}; trying again" }, "round", Actor, $"round {report.Round}: {report.Status}");
                return; // the next check tries again
            }

            run = Update(run, r => r with { RoundsRun = r.RoundsRun + 1, Candidate = report.NewVersion ?? r.Candidate, Note = $"round {r.RoundsRun + 1} of {r.Policy.Rounds}" },
                "round", Actor, Invariant($"round {report.Round}: v{report.NewVersion} from {report.Contributors} devices, {report.Samples} samples"));
        }

        Move(run, PipelineStage.Validating, "trained", $"candidate v{run.Candidate} after {run.RoundsRun} rounds");
    }

    private async Task ValidateAsync(PipelineRun run, CancellationToken cancellationToken)
    {
        var candidate = _stores.Governance.Find(run.Model, run.Candidate);
        var deployed = _stores.Governance.Find(run.Model, run.BaseVersion);
        var checks = await _validation.JudgeAsync(run.Policy, candidate, deployed, run.FederatedBase, cancellationToken).ConfigureAwait(false);
        foreach (var check in checks) _stores.Audit.Append(_time.GetUtcNow(), Actor, "pipeline.gate", Subject + "/" + run.Id, $"{check.Gate}: {(check.Passed ? "pass" : "FAIL")} — {check.Detail}", null, null);
        run = Update(run, r => r with { Gates = checks }, "gates", Actor, string.Join("; ", checks.Select(c => $"{c.Gate} {(c.Passed ? "pass" : "FAIL")}")));
        if (checks.FirstOrDefault(c => !c.Passed) is { } failed)
        {
            if (candidate.State is VersionStates.Validated or VersionStates.Candidate)
            {
                _stores.Governance.Move(candidate, VersionStates.Rejected, Actor, $"pipeline run {run.Id}: {failed.Gate} gate: {failed.Detail}");
            }

            Finish(run, PipelineStage.Stopped, "stop", Actor, $"gate {failed.Gate} failed: {failed.Detail}");
            return;
        }

        var required = PipelineApprovals.Required(run.Policy.Approvals, candidate.State);
        run = Update(run, r => r with { RequiredApprovals = required }, null, Actor, string.Empty);
        Move(run, PipelineStage.AwaitingApproval, "validated", required == 0 ? "every gate passed; the policy approves"
            : required > run.Policy.Approvals ? $"every gate passed; the registry holds v{candidate.Version} for a person's review ({candidate.StateReason}): waiting for {required} approval(s)"
            : $"every gate passed; waiting for {required} approval(s)");
        await ReleaseAsync(Active!, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>With the approvals the policy asks for, approves the version in the registry and starts its rollout.</summary>
    private async Task ReleaseAsync(PipelineRun run, CancellationToken cancellationToken)
    {
        if (run.Approvals.Count < run.RequiredApprovals) return;
        var candidate = _stores.Governance.Find(run.Model, run.Candidate);
        if (candidate.State is VersionStates.Validated or VersionStates.Candidate)
        {
            var approver = run.Approvals.Count > 0 ? run.Approvals[^1] : Actor;
            _stores.Governance.Approve(approver, run.Model, run.Candidate,
                run.Approvals.Count > 0 ? $"pipeline run {run.Id}: approved by {string.Join(", ", run.Approvals)}" : $"pipeline run {run.Id}: the policy approves versions that pass its gates");
        }

        var request = run.Policy.Rollout with { Version = run.Candidate, Reason = $"pipeline run {run.Id}: {run.Trigger.Kind}: {run.Trigger.Detail}" };
        RolloutRecord rollout;
        try
        {
            rollout = await _rollouts.CreateAsync(Actor, request, cancellationToken).ConfigureAwait(false);
        }
        catch (GovernanceException ex)
        {
            Update(run, r => r with { Note = "waiting to roll out: " + ex.Message }, "wait", Actor, ex.Message);
            return;
        }

        Move(run with { RolloutId = rollout.Id }, PipelineStage.RollingOut, "rollout", $"rollout {rollout.Id}: {rollout.Note}");
    }

    private void Watch(PipelineRun run)
    {
        if (run.RolloutId is not { } id || _rollouts.Find(id) is not { } stored) return;
        var rollout = _rollouts.Current?.Id == id ? _rollouts.Current : stored;
        switch (rollout.State)
        {
            case RolloutStatusKind.Completed:
                Finish(run, PipelineStage.Completed, "complete", Actor, $"v{run.Candidate} serves the whole cohort (rollout {id})");
                break;
            case RolloutStatusKind.Aborted:
                Finish(run, PipelineStage.Stopped, "stop", Actor, $"rollout {id} aborted: {rollout.Note}");
                break;
            default:
                var note = $"{rollout.State.ToString().ToLowerInvariant()}: {rollout.Note}";
                if (note != run.Note) Update(run, r => r with { Note = note }, null, Actor, string.Empty);
                break;
        }
    }

    private void Move(PipelineRun run, PipelineStage to, string step, string detail) =>
        Update(run, r => r with { Stage = to, RolloutId = run.RolloutId ?? r.RolloutId, Note = detail }, step, Actor, detail, to);

    private PipelineRun Finish(PipelineRun run, PipelineStage to, string step, string actor, string detail)
    {
        var done = Update(run, r => r with { Stage = to, Note = detail, EndedAt = _time.GetUtcNow() }, step, actor, detail, to);
        lock (_gate)
        {
            if (_active?.Id == run.Id) _active = null;
        }

        return done;
    }

    /// <summary>
    /// Changes the active run (its newest copy, not the caller's), records the step (timeline, audit, log) and returns it.
    /// A run that is no longer active (stopped by an operator while a round ran) is left as it ended.
    /// </summary>
    private PipelineRun Update(PipelineRun run, Func<PipelineRun, PipelineRun> change, string? step, string actor, string detail, PipelineStage? to = null)
    {
        PipelineRun next;
        PipelineStage from;
        PipelineStep? entry = null;
        lock (_gate)
        {
            if (_active is not { } current || current.Id != run.Id) return run;
            from = current.Stage;
            next = change(current);
            if (step is not null)
            {
                entry = new PipelineStep(_time.GetUtcNow(), step, actor, detail);
                next = next with { Steps = [.. next.Steps, entry] };
            }

            _active = next;
        }

        if (entry is not null) Record(next, entry, from, to ?? from);
        else Save(next);
        return next;
    }

    private void Record(PipelineRun run, PipelineStep step, PipelineStage? from, PipelineStage? to)
    {
        Save(run);
        _stores.Audit.Append(step.At, step.Actor, "pipeline." + step.Step, Subject + "/" + run.Id, step.Detail, from?.ToString(), to?.ToString());
        _logger.LogPipelineStep(run.Id, step.Step, step.Detail);
    }

    private void Save(PipelineRun run) => _stores.Registry.SavePipelineRun(run.Id, run.Model, run.StartedAt, JsonSerializer.Serialize(run, PipelineJson.Default.PipelineRun));

    private string Subject => $"pipeline/{_options.ModelName}";

    private static string Describe(PipelineStage stage) => stage switch
    {
        PipelineStage.AwaitingApproval => "awaiting approval",
        PipelineStage.RollingOut => "rolling out",
        _ => stage.ToString().ToLowerInvariant(),
    };

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
