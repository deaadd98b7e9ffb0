using EdgeMlOps.Agent.Models;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Rollouts;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;

namespace EdgeMlOps.Agent;

public sealed partial class DeviceAgent
{
    private readonly object _rolloutGate = new();
    private RolloutPlan? _plan;
    private RolloutProgress? _progress;
    private CancellationTokenSource? _trialCancel;
    private RolloutPlan? _newestPlan;

    // Per-version health figures, reset whenever the served version changes.
    private LatencyHistogram _versionLatency = new();
    private long _versionPredictions;
    private long _inferenceErrors;
    private long _feedbackCount;
    private long _feedbackCorrect;

    /// <summary>Manifests, bundles and plans this device refused, and why the last one was.</summary>
    public TrustGate Trust => _trust;

    /// <summary>The device's part in the current rollout (null before any plan applied to it).</summary>
    public RolloutProgress? Rollout
    {
        get { lock (_rolloutGate) return _progress?.Clone(); }
    }

    /// <summary>The version loaded for training only (governed fleets), or 0.</summary>
    public ulong TrainingVersion
    {
        get { lock (_modelGate) return _training?.Announcement.Version ?? 0; }
    }

    private long NowMs => _deps.Time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>A verified plan arrived on the rollout topic: do what it asks of this device.</summary>
    private async Task ApplyPlanAsync(RolloutPlan plan)
    {
        if (!await EnterInstallGateAsync().ConfigureAwait(false)) return;
        try
        {
            RolloutProgress? previous;
            lock (_rolloutGate)
            {
                if (_plan is { } held && held.RolloutId == plan.RolloutId && plan.Revision <= held.Revision) return;

                // A validly signed but older plan (say, an old abort replayed after the version was rolled out again) is not obeyed.
                if (plan.IssuedUnixMs < (_progress?.PlanIssuedUnixMs ?? 0))
                {
                    _trust.Reject($"rollout plan {plan.RolloutId} rev {plan.Revision} is older than the plan already applied (replay?)");
                    return;
                }

                // A plan is the rollout's whole state: one that a newer plan replaced while it waited for the gate is skipped.
                if (Newer(_newestPlan, plan)) return;

                _plan = plan;
                previous = _progress is { } p && p.RolloutId == plan.RolloutId ? p : null;
            }

            var serving = CurrentModel;
            if (serving is not null && serving.ModelName != plan.ModelName) return;
            var target = ManifestVersion(plan.TargetManifest);
            var onTarget = serving?.Version == target;
            if (plan.State == RolloutState.Aborted)
            {
                if (onTarget) await RevertAsync(plan, target, "rollout aborted by the fleet (signed rollback directive)").ConfigureAwait(false);
                else await CatchUpToDeployedAsync(plan).ConfigureAwait(false);
                if (!onTarget && previous is null) SetProgress(plan, RolloutPhase.NotTargeted, string.Empty, target);
                return;
            }

            if (!RolloutMembership.IsTargeted(DeviceId, _options.Tags, plan))
            {
                if (!onTarget) await CatchUpToDeployedAsync(plan).ConfigureAwait(false);
                if (!onTarget && previous?.Phase is not (RolloutPhase.Failed or RolloutPhase.RolledBack)) SetProgress(plan, RolloutPhase.NotTargeted, string.Empty, target);
                return;
            }

            // A target that already failed here is not retried within the same rollout.
            if (previous?.Phase is RolloutPhase.Failed or RolloutPhase.RolledBack) return;
            if (onTarget)
            {
                if (previous is null) SetProgress(plan, RolloutPhase.Healthy, "already on the target version", target);
                return;
            }

            if (_trust.CheckManifest(plan.TargetManifest, NowMs, serving?.Version ?? 0) is not { } manifest)
            {
                SetProgress(plan, RolloutPhase.Failed, _trust.LastRejection, target);
                return;
            }

            SetProgress(plan, RolloutPhase.Installing, string.Empty, target);
            var verified = ManifestRules.ToAnnouncement(manifest, plan.TargetManifest, plan.ArtifactBaseUrl);
            try
            {
                using (_inFlight.Begin(target, _stopping.Token)) await SwitchAsync(verified, trial: true).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
            {
                SetProgress(plan, RolloutPhase.RolledBack, $"rollout aborted while v{target} was downloading; the download was stopped", target);
                return;
            }
            catch (Exception ex) when (IsInstallFailure(ex))
            {
                Interlocked.Increment(ref Counters.ModelInstallFailures);
                _trust.Reject($"v{target}: {ex.Message}");
                SetProgress(plan, RolloutPhase.Failed, $"could not install or load v{target}: {ex.Message}", target);
                LogInstallFailed(plan.ModelName, target, ex.Message);
                return;
            }

            SetProgress(plan, RolloutPhase.Trial, string.Empty, target);
            StartTrial(plan, target);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            _installGate.Release();
        }
    }

    /// <summary>Records a verified plan as the newest seen unless an applied or seen plan is newer; true when it is the newest (not a replay).</summary>
    private bool NotePlan(RolloutPlan plan)
    {
        lock (_rolloutGate)
        {
            if (plan.IssuedUnixMs < (_progress?.PlanIssuedUnixMs ?? 0) || Newer(_newestPlan, plan)) return false;
            _newestPlan = plan;
            return true;
        }
    }

    private static bool Newer(RolloutPlan? candidate, RolloutPlan than) =>
        candidate is not null && (candidate.IssuedUnixMs > than.IssuedUnixMs || (candidate.RolloutId == than.RolloutId && candidate.Revision > than.Revision));

    /// <summary>
    /// A device the plan does not (or no longer) move to the target, serving nothing or a version older than the one
    /// the fleet runs (a device that joined after the last rollout completed, say), installs the fleet's deployed
    /// version: the plan's signed previous manifest, checked like any other (never a downgrade).
    /// </summary>
    private async Task CatchUpToDeployedAsync(RolloutPlan plan)
    {
        var deployed = ManifestVersion(plan.PreviousManifest);
        var serving = ModelVersion;
        if (deployed == 0 || deployed <= serving) return;
        if (_trust.CheckManifest(plan.PreviousManifest, NowMs, serving) is not { } manifest) return;
        try
        {
            await SwitchAsync(ManifestRules.ToAnnouncement(manifest, plan.PreviousManifest, plan.ArtifactBaseUrl), trial: false).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsInstallFailure(ex))
        {
            Interlocked.Increment(ref Counters.ModelInstallFailures);
            _trust.Reject($"deployed v{deployed}: {ex.Message}");
            LogInstallFailed(plan.ModelName, deployed, ex.Message);
        }
    }

    /// <summary>A fresh signed rollback directive: the download in flight stops (a plain announcement's install is retried after it).</summary>
    private void PreemptInstall(RolloutPlan plan)
    {
        var stopped = _inFlight.Preempt();
        if (stopped == 0) return;
        Interlocked.Increment(ref Counters.InstallsPreempted);
        LogInstallPreempted(plan.ModelName, stopped, plan.RolloutId);
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

    /// <summary>Watches the new version for the plan's window, then commits or reverts by itself.</summary>
    private void StartTrial(RolloutPlan plan, ulong version)
    {
        var policy = plan.Health ?? new HealthPolicy();
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        Interlocked.Exchange(ref _trialCancel, cancel)?.Cancel();
        Track(Task.Run(async () =>
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(policy.WindowSeconds), _deps.Time, cancel.Token).ConfigureAwait(false);
                while (Interlocked.Read(ref _versionPredictions) + Interlocked.Read(ref _inferenceErrors) < policy.MinPredictions)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), _deps.Time, cancel.Token).ConfigureAwait(false);
                }

                await _installGate.WaitAsync(cancel.Token).ConfigureAwait(false);
                try
                {
                    if (ModelVersion != version) return;
                    var problem = HealthProblem(policy);
                    if (problem is null)
                    {
                        _deps.Models.EndTrial();
                        SetProgress(plan, RolloutPhase.Healthy, string.Empty, version);
                    }
                    else
                    {
                        await RevertAsync(plan, version, problem).ConfigureAwait(false);
                    }
                }
                finally
                {
                    _installGate.Release();
                }
            }
            catch (OperationCanceledException)
            {
            }
        }));
    }

    /// <summary>Why the served version fails its health window, or null if it passes.</summary>
    private string? HealthProblem(HealthPolicy policy)
    {
        var errors = Interlocked.Read(ref _inferenceErrors);
        var total = errors + Interlocked.Read(ref _versionPredictions);
        if (total > 0 && (double)errors / total > policy.MaxErrorRate)
        {
            return FormattableString.Invariant($"inference errors {errors} of {total} ({(double)errors / total:P1}) exceed {policy.MaxErrorRate:P1}");
        }

        var p95 = _versionLatency.Quantile(0.95).TotalMilliseconds;
        if (policy.LatencyBudgetP95Ms > 0 && _versionLatency.Count > 0 && p95 > policy.LatencyBudgetP95Ms)
        {
            return FormattableString.Invariant($"p95 latency {p95:F2} ms exceeds the budget of {policy.LatencyBudgetP95Ms:F2} ms");
        }

        return null;
    }

    /// <summary>Goes back to the previous version on disk (a signed directive or a failed health window allows the downgrade).</summary>
    private async Task RevertAsync(RolloutPlan plan, ulong from, string reason)
    {
        Interlocked.Exchange(ref _trialCancel, null)?.Cancel();
        _deps.Models.EndTrial();
        var expected = ManifestVersion(plan.PreviousManifest);
        if (expected > 0 && _deps.Models.PreviousVersion != expected)
        {
            // This device's previous version is not the one the fleet goes back to: install that one (the signed plan allows the step down).
            if (_trust.CheckManifest(plan.PreviousManifest, NowMs, ModelVersion, allowedDowngradeTo: expected) is { } manifest)
            {
                try
                {
                    await SwitchAsync(ManifestRules.ToAnnouncement(manifest, plan.PreviousManifest, plan.ArtifactBaseUrl), trial: false).ConfigureAwait(false);
                    SetProgress(plan, RolloutPhase.RolledBack, reason, from);
                    LogRolledBack(from, ModelVersion, reason);
                    return;
                }
                catch (Exception ex) when (IsInstallFailure(ex))
                {
                    _trust.Reject($"v{expected}: {ex.Message}");
                }
            }
        }

        if (!_deps.Models.RollBack())
        {
            SetProgress(plan, RolloutPhase.Failed, reason + "; no previous version to go back to", from);
            return;
        }

        await LoadInstalledModelAsync().ConfigureAwait(false);
        SetProgress(plan, RolloutPhase.RolledBack, reason, from);
        LogRolledBack(from, ModelVersion, reason);
        RequestStatus();
    }

    private void SetProgress(RolloutPlan plan, RolloutPhase phase, string reason, ulong target)
    {
        var progress = new RolloutProgress { RolloutId = plan.RolloutId, Revision = plan.Revision, Phase = phase, Reason = reason, TargetVersion = target, PlanIssuedUnixMs = plan.IssuedUnixMs };
        lock (_rolloutGate)
        {
            if (_progress is { } old && old.RolloutId == progress.RolloutId && old.Phase == phase && old.Reason == reason && old.PlanIssuedUnixMs == progress.PlanIssuedUnixMs) return;
            _progress = progress;
        }

        try
        {
            var path = RolloutStatePath;
            File.WriteAllBytes(path + ".tmp", progress.ToByteArray());
            File.Move(path + ".tmp", path, overwrite: true);
        }
        catch (IOException ex)
        {
            LogPublishFailed("rollout state", ex.Message);
        }

        RequestStatus();
    }

    private string RolloutStatePath => Path.Combine(Path.GetDirectoryName(_deps.Models.TrustBundlePath)!, "rollout.pb");

    /// <summary>The rollout progress saved before a restart (so a failed target is not retried).</summary>
    private void LoadRolloutState()
    {
        try
        {
            if (File.Exists(RolloutStatePath)) _progress = RolloutProgress.Parser.ParseFrom(File.ReadAllBytes(RolloutStatePath));
        }
        catch (Exception ex) when (ex is IOException or InvalidProtocolBufferException)
        {
            _progress = null;
        }
    }

    /// <summary>Resets the per-version health figures (a new version was switched to).</summary>
    private void ResetVersionHealth()
    {
        _versionLatency = new LatencyHistogram();
        Interlocked.Exchange(ref _versionPredictions, 0);
        Interlocked.Exchange(ref _inferenceErrors, 0);
        Interlocked.Exchange(ref _feedbackCount, 0);
        Interlocked.Exchange(ref _feedbackCorrect, 0);
    }

    private static bool IsInstallFailure(Exception ex) =>
        ex is ArtifactRejectedException or HttpRequestException or InvalidDataException or InvalidProtocolBufferException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException or IOException;
}
