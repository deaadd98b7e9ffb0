using EdgeMlOps.Agent.Models;
using EdgeMlOps.Agent.Experiments;
using EdgeMlOps.Agent.Monitoring;
using EdgeMlOps.Agent.Shadow;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Rollouts;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent.Rollouts;

/// <summary>
/// Carries out signed rollout plans on this device: decides with <see cref="RolloutStep.Decide"/>, then installs the
/// target on trial, watches it for the plan's health window and commits or reverts by itself, catches up to the
/// fleet's deployed version, or obeys a signed rollback directive (stopping a download in flight first). In a plan's
/// shadow phase it loads the target beside the served version and runs a <see cref="ShadowScorer"/> session instead.
/// </summary>
internal sealed class RolloutController
{
    private readonly AgentOptions _options;
    private readonly ModelInstaller _installer;
    private readonly ModelSlots _slots;
    private readonly ModelStore _store;
    private readonly TrustGate _trust;
    private readonly ServingHealth _health;
    private readonly AgentCounters _counters;
    private readonly TimeProvider _time;
    private readonly BackgroundWork _work;
    private readonly Action _statusChanged;
    private readonly ILogger _logger;
    private CancellationTokenSource? _trialCancel;

    public RolloutController(AgentOptions options, ModelInstaller installer, ModelSlots slots, AgentDependencies deps, TrustGate trust, ServingHealth health, AgentCounters counters, BackgroundWork work, Action statusChanged, ILogger logger)
    {
        _options = options;
        _installer = installer;
        _slots = slots;
        _store = deps.Models;
        _time = deps.Time;
        _trust = trust;
        _health = health;
        _counters = counters;
        _work = work;
        _statusChanged = statusChanged;
        _logger = logger;
        Memory = new RolloutMemory(Path.Combine(Path.GetDirectoryName(deps.Models.TrustBundlePath)!, "rollout.pb"), logger);
    }

    /// <summary>The plans seen and applied, and the device's progress.</summary>
    public RolloutMemory Memory { get; }

    /// <summary>The shadow test this device runs for the current plan, if any (the request path feeds it).</summary>
    public ShadowScorer Shadow { get; } = new();

    /// <summary>The A/B test this device takes part in for the current plan, if any (the request path asks it which arm).</summary>
    public ExperimentArms Experiment { get; } = new();

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>A plan arrived on the rollout topic: verified here, before the install gate, so a rollback directive stops the download in flight.</summary>
    public void Receive(Signed envelope)
    {
        if (_trust.CheckPlan(envelope, NowMs) is not { } plan)
        {
            _statusChanged();
            return;
        }

        if (Memory.Note(plan) && plan.State == RolloutState.Aborted) Preempt(plan);
        _work.Track(ApplyAsync(plan));
    }

    /// <summary>Does what a verified plan asks of this device (under the install gate).</summary>
    private async Task ApplyAsync(RolloutPlan plan)
    {
        if (!await _installer.EnterGateAsync(_work.Stopping).ConfigureAwait(false)) return;
        try
        {
            switch (Memory.Admit(plan, out var previous))
            {
                case PlanAdmission.Replay:
                    _trust.Reject($"rollout plan {plan.RolloutId} rev {plan.Revision} is older than the plan already applied (replay?)");
                    return;
                case PlanAdmission.Superseded:
                    return;
            }

            var serving = _slots.Served;
            var target = ManifestVersion(plan.TargetManifest);
            var step = RolloutStep.Decide(plan, target, serving?.ModelName, serving?.Version, previous?.Phase,
                RolloutMembership.IsTargeted(_options.DeviceId, _options.Tags, plan),
                RolloutMembership.IsShadowing(_options.DeviceId, _options.Tags, plan) || RolloutMembership.IsInExperiment(_options.DeviceId, _options.Tags, plan));
            switch (step.Action)
            {
                case RolloutAction.Shadow:
                case RolloutAction.Experiment:
                    await RunBesideAsync(plan, step.Action, target, serving!.Version).ConfigureAwait(false);
                    break;
                case RolloutAction.Revert:
                    await RevertAsync(plan, target, step.Reason).ConfigureAwait(false);
                    break;
                case RolloutAction.CatchUp:
                    await CatchUpToDeployedAsync(plan).ConfigureAwait(false);
                    break;
                case RolloutAction.Install:
                    await InstallOnTrialAsync(plan, target, serving?.Version ?? 0).ConfigureAwait(false);
                    break;
            }

            if (step.Mark is { } phase) SetProgress(plan, phase, step.Reason, target);

            // After the step: a candidate promoted to this device's canary was installed from the shared session.
            if (step.Action != RolloutAction.Shadow) await Shadow.EndAsync().ConfigureAwait(false);
            if (step.Action != RolloutAction.Experiment) Experiment.End();
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            _installer.ExitGate();
        }
    }

    private async Task InstallOnTrialAsync(RolloutPlan plan, ulong target, ulong serving)
    {
        if (_trust.CheckManifest(plan.TargetManifest, NowMs, serving) is not { } manifest)
        {
            SetProgress(plan, RolloutPhase.Failed, _trust.LastRejection, target);
            return;
        }

        SetProgress(plan, RolloutPhase.Installing, string.Empty, target);
        var verified = ManifestRules.ToAnnouncement(manifest, plan.TargetManifest, plan.ArtifactBaseUrl);
        try
        {
            using (_installer.BeginInFlight(target)) await _installer.SwitchAsync(verified, trial: true).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!_work.IsStopping)
        {
            SetProgress(plan, RolloutPhase.RolledBack, $"rollout aborted while v{target} was downloading; the download was stopped", target);
            return;
        }
        catch (Exception ex) when (ModelInstaller.IsInstallFailure(ex))
        {
            Interlocked.Increment(ref _counters.ModelInstallFailures);
            _trust.Reject($"v{target}: {ex.Message}");
            SetProgress(plan, RolloutPhase.Failed, $"could not install or load v{target}: {ex.Message}", target);
            _logger.InstallFailed(plan.ModelName, target, ex.Message);
            return;
        }

        SetProgress(plan, RolloutPhase.Trial, string.Empty, target);
        StartTrial(plan, target);
    }

    /// <summary>
    /// Loads the target (verified like an install) beside the served version, then starts scoring requests with it in
    /// the shadow, or answering the A/B test's share of requests with it.
    /// </summary>
    private async Task RunBesideAsync(RolloutPlan plan, RolloutAction action, ulong target, ulong serving)
    {
        var shadow = action == RolloutAction.Shadow;
        if (shadow && Shadow.Runs(plan.RolloutId, target)) return;
        if (!shadow && Experiment.Runs(plan.RolloutId, target))
        {
            Experiment.Resplit(plan.Experiment.Split); // a bandit moved the split
            return;
        }

        if (_trust.CheckManifest(plan.TargetManifest, NowMs, serving) is not { } manifest)
        {
            SetProgress(plan, RolloutPhase.Failed, _trust.LastRejection, target);
            return;
        }

        var verified = ManifestRules.ToAnnouncement(manifest, plan.TargetManifest, plan.ArtifactBaseUrl);
        try
        {
            using (_installer.BeginInFlight(target))
            {
                var (session, memory) = await _installer.LoadBesideAsync(verified).ConfigureAwait(false);
                if (shadow)
                {
                    var incumbent = await _installer.LeaseServedAsync().ConfigureAwait(false);
                    await Shadow.BeginAsync(new ShadowSession(plan.RolloutId, serving, target, session, plan.Shadow, memory, incumbent, _time)).ConfigureAwait(false);
                }
                else
                {
                    var byDevice = plan.Experiment.Unit == ExperimentUnit.Device ? _options.DeviceId : null;
                    Experiment.Begin(new ExperimentSession(plan.RolloutId, serving, target, plan.Experiment.Split, session, byDevice));
                }
            }
        }
        catch (OperationCanceledException) when (!_work.IsStopping)
        {
            return; // a rollback directive stopped the download; it is applied next
        }
        catch (Exception ex) when (ModelInstaller.IsInstallFailure(ex))
        {
            Interlocked.Increment(ref _counters.ModelInstallFailures);
            _trust.Reject($"v{target}: {ex.Message}");
            SetProgress(plan, RolloutPhase.Failed, $"could not load v{target} for its {(shadow ? "shadow test" : "A/B test")}: {ex.Message}", target);
            _logger.InstallFailed(plan.ModelName, target, ex.Message);
            return;
        }

        SetProgress(plan, shadow ? RolloutPhase.Shadowing : RolloutPhase.Experimenting, string.Empty, target);
    }

    /// <summary>
    /// A device the plan does not (or no longer) move to the target, serving nothing or a version older than the one
    /// the fleet runs (a device that joined after the last rollout completed, say), installs the fleet's deployed
    /// version: the plan's signed previous manifest, checked like any other (never a downgrade).
    /// </summary>
    private async Task CatchUpToDeployedAsync(RolloutPlan plan)
    {
        var deployed = ManifestVersion(plan.PreviousManifest);
        var serving = _slots.ServedVersion;
        if (deployed == 0 || deployed <= serving) return;
        if (_trust.CheckManifest(plan.PreviousManifest, NowMs, serving) is not { } manifest) return;
        try
        {
            await _installer.SwitchAsync(ManifestRules.ToAnnouncement(manifest, plan.PreviousManifest, plan.ArtifactBaseUrl), trial: false).ConfigureAwait(false);
        }
        catch (Exception ex) when (ModelInstaller.IsInstallFailure(ex))
        {
            Interlocked.Increment(ref _counters.ModelInstallFailures);
            _trust.Reject($"deployed v{deployed}: {ex.Message}");
            _logger.InstallFailed(plan.ModelName, deployed, ex.Message);
        }
    }

    /// <summary>A fresh signed rollback directive: the download in flight stops (a plain announcement's install is retried after it).</summary>
    private void Preempt(RolloutPlan plan)
    {
        var stopped = _installer.Preempt();
        if (stopped == 0) return;
        Interlocked.Increment(ref _counters.InstallsPreempted);
        _logger.InstallPreempted(plan.ModelName, stopped, plan.RolloutId);
    }

    /// <summary>Watches the new version for the plan's window, then commits or reverts by itself.</summary>
    private void StartTrial(RolloutPlan plan, ulong version)
    {
        var policy = plan.Health ?? new HealthPolicy();
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(_work.Stopping);
        Interlocked.Exchange(ref _trialCancel, cancel)?.Cancel();
        _work.Track(Task.Run(async () =>
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(policy.WindowSeconds), _time, cancel.Token).ConfigureAwait(false);
                while (_health.VersionAttempts < policy.MinPredictions)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), _time, cancel.Token).ConfigureAwait(false);
                }

                if (!await _installer.EnterGateAsync(cancel.Token).ConfigureAwait(false)) return;
                try
                {
                    if (_slots.ServedVersion != version) return;
                    if (_health.Problem(policy) is { } problem)
                    {
                        await RevertAsync(plan, version, problem).ConfigureAwait(false);
                    }
                    else
                    {
                        _store.EndTrial();
                        SetProgress(plan, RolloutPhase.Healthy, string.Empty, version);
                    }
                }
                finally
                {
                    _installer.ExitGate();
                }
            }
            catch (OperationCanceledException)
            {
            }
        }));
    }

    /// <summary>Goes back to the fleet's previous version (a signed directive or a failed health window allows the downgrade).</summary>
    private async Task RevertAsync(RolloutPlan plan, ulong from, string reason)
    {
        Interlocked.Exchange(ref _trialCancel, null)?.Cancel();
        _store.EndTrial();
        var expected = ManifestVersion(plan.PreviousManifest);
        if (expected > 0 && _store.PreviousVersion != expected)
        {
            // This device's previous version is not the one the fleet goes back to: install that one (the signed plan allows the step down).
            if (_trust.CheckManifest(plan.PreviousManifest, NowMs, _slots.ServedVersion, allowedDowngradeTo: expected) is { } manifest)
            {
                try
                {
                    await _installer.SwitchAsync(ManifestRules.ToAnnouncement(manifest, plan.PreviousManifest, plan.ArtifactBaseUrl), trial: false).ConfigureAwait(false);
                    SetProgress(plan, RolloutPhase.RolledBack, reason, from);
                    _logger.RolledBack(from, _slots.ServedVersion, reason);
                    return;
                }
                catch (Exception ex) when (ModelInstaller.IsInstallFailure(ex))
                {
                    _trust.Reject($"v{expected}: {ex.Message}");
                }
            }
        }

        if (!await _installer.RollBackAsync().ConfigureAwait(false))
        {
            SetProgress(plan, RolloutPhase.Failed, reason + "; no previous version to go back to", from);
            return;
        }

        SetProgress(plan, RolloutPhase.RolledBack, reason, from);
        _logger.RolledBack(from, _slots.ServedVersion, reason);
        _statusChanged();
    }

    private void SetProgress(RolloutPlan plan, RolloutPhase phase, string reason, ulong target)
    {
        if (Memory.Set(plan, phase, reason, target)) _statusChanged();
    }

    private static ulong ManifestVersion(Signed? envelope)
    {
        try
        {
            return envelope is null ? 0 : ModelManifest.Parser.ParseFrom(envelope.Body).Version;
        }
        catch (InvalidProtocolBufferException)
        {
            return 0;
        }
    }
}
