using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent.Models;

/// <summary>A version in its health window when the agent last stopped, rolled back at start.</summary>
internal readonly record struct TrialRolledBack(ulong Version, string Reason);

/// <summary>
/// Puts verified versions on the device: one install at a time (the install gate, shared with the rollout
/// controller), artifacts from the model store or downloaded and checked, both sessions loaded, committed on disk,
/// then switched atomically. Also tracks how fresh the fleet's signed statements are (a frozen device notices).
/// </summary>
internal sealed class ModelInstaller
{
    private readonly AgentOptions _options;
    private readonly ModelStore _store;
    private readonly ModelRuntimes _runtimes;
    private readonly TrustGate _trust;
    private readonly ArtifactFetcher _fetcher;
    private readonly ModelSlots _slots;
    private readonly AgentFaults _faults;
    private readonly AgentCounters _counters;
    private readonly TimeProvider _time;
    private readonly Action _statusChanged;
    private readonly CancellationToken _stopping;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly InFlightInstall _inFlight = new();
    private readonly AnnouncementWatermarks _watermarks = new();

    /// <summary>
    /// <paramref name="statusChanged"/> asks for a status soon (a refusal the fleet should see); downloads and waits end
    /// with <paramref name="stopping"/>, the agent's stop.
    /// </summary>
    public ModelInstaller(AgentOptions options, AgentDependencies deps, TrustGate trust, ModelSlots slots, AgentCounters counters, Action statusChanged, CancellationToken stopping, ILogger logger)
    {
        _options = options;
        _store = deps.Models;
        _runtimes = deps.Runtimes;
        _faults = deps.Faults;
        _time = deps.Time;
        _trust = trust;
        _slots = slots;
        _counters = counters;
        _statusChanged = statusChanged;
        _stopping = stopping;
        _logger = logger;
        _fetcher = new ArtifactFetcher(deps.Http, options.MaxArtifactBytes, DownloadLimits.Default with { MinBytesPerSecond = options.MinDownloadBytesPerSecond, Stall = options.DownloadStall });
    }

    /// <summary>Until when the newest verified signed manifest is valid (null before the first one).</summary>
    public DateTimeOffset? FreshUntil => _watermarks.FreshUntil;

    /// <summary><see cref="FreshUntil"/> in Unix milliseconds (0 before the first manifest).</summary>
    public long FreshUntilUnixMs => _watermarks.FreshUntilUnixMs;

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Takes the install gate; false when the agent stops while waiting (a stop is not an error).</summary>
    public async Task<bool> EnterGateAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    public void ExitGate() => _gate.Release();

    /// <summary>Tracks the install of <paramref name="version"/> (under the gate) so a rollback directive can stop its download.</summary>
    public IDisposable BeginInFlight(ulong version) => _inFlight.Begin(version, _stopping);

    /// <summary>Stops the download in flight, if any; the version stopped, or 0.</summary>
    public ulong Preempt() => _inFlight.Preempt();

    /// <summary>
    /// At start: a version still in its health window when the process stopped (it crashed on load or while serving)
    /// is rolled back on disk; returns which, or null.
    /// </summary>
    public TrialRolledBack? RecoverTrial()
    {
        if (_store.TrialVersion is not { } trial) return null;
        _store.EndTrial();
        if (_store.CurrentVersion != trial || !_store.RollBack()) return null;
        var notice = $"v{trial} did not finish its health window (the agent stopped or crashed during it); rolled back to v{_store.CurrentVersion}";
        _slots.Notice = notice;
        _logger.ModelFallback(notice);
        return new TrialRolledBack(trial, notice);
    }

    /// <summary>
    /// Serves the version installed on disk before any network is available, so a device that restarts offline keeps
    /// predicting. A corrupt current version falls back to the previous one.
    /// </summary>
    public async Task LoadInstalledAsync()
    {
        var load = _store.LoadCurrent();
        if (load.FallbackReason is { } reason)
        {
            _slots.Notice = reason;
            _logger.ModelFallback(reason);
        }

        if (load.Model is not { } stored) return;
        try
        {
            var a = stored.Announcement;
            var spec = SpecOf(a);
            var inference = await _runtimes.Inference.AcquireAsync(SessionKey(a), () => Task.FromResult(InferenceModel.Load(stored.Inference, spec, _runtimes.Settings, stored.Preprocess))).ConfigureAwait(false);
            var trainStep = stored.TrainStep is { } train
                ? await _runtimes.TrainSteps.AcquireAsync(SessionKey(a, a.TrainStep), () => Task.FromResult(new TrainStepModel(train, inference.Value.Spec, _runtimes.Settings, stored.Preprocess))).ConfigureAwait(false)
                : null;
            _slots.Serve(a, inference, trainStep);
            _logger.Installed(a.ModelName, a.Version);
        }
        catch (Exception ex) when (ex is InvalidDataException or InvalidProtocolBufferException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            _slots.Notice = $"installed model failed to load: {ex.Message}";
            _logger.ModelFallback(_slots.Notice);
        }
    }

    /// <summary>
    /// A retained announcement arrived: verify its trust bundle and signed manifest (key, expiry, version, and that
    /// the unsigned fields match), then either serve it (auto mode) or load it for training only (governed fleets).
    /// Rejections are counted with their reason. A download stopped by a rollback directive is retried after it.
    /// </summary>
    public async Task InstallAsync(ModelAnnouncement announcement)
    {
        while (await EnterGateAsync(_stopping).ConfigureAwait(false))
        {
            try
            {
                await InstallUnderGateAsync(announcement).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
            {
                // A rollback directive stopped this download to go first (it waits for the gate); then this one again.
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex) when (IsInstallFailure(ex))
            {
                Refused(announcement.ModelName, announcement.Version, ex.Message);
                return;
            }
            finally
            {
                ExitGate();
            }
        }
    }

    private async Task InstallUnderGateAsync(ModelAnnouncement announcement)
    {
        if (announcement.Header?.ProtocolVersion != ProtocolInfo.CurrentVersion)
        {
            throw new ArtifactRejectedException("announcement from another protocol version");
        }

        // The trust bundle first, before any version comparison: a key rotation or revocation must reach a
        // device that already runs the newest version, or a manifest signed with the revoked key would pass.
        if (announcement.Trust is not null && !_trust.OfferBundle(announcement.Trust))
        {
            Refused(announcement.ModelName, announcement.Version, _trust.LastRejection, alreadyRejected: true);
            return;
        }

        // The retained announcement only moves forward; an older one is a replay (a freeze attempt): counted and reported.
        var newest = _watermarks.NewestAnnounced;
        if (announcement.Version < newest)
        {
            _trust.Reject($"announcement of {announcement.ModelName} v{announcement.Version} is older than v{newest} already announced (replay?)");
            _statusChanged();
            return;
        }

        var installed = announcement.TrainingOnly ? Math.Max(_slots.TrainingVersion, _slots.ServedVersion) : _slots.ServedVersion;
        if (announcement.Version <= installed && announcement.Version != 0)
        {
            // The same version, freshly signed: nothing to install, but proof the device is not frozen.
            if (announcement.Version == installed && _trust.CheckAnnouncement(announcement, NowMs, installed - 1) is { } fresh) _watermarks.RaiseFreshUntil(fresh.ExpiresUnixMs);
            _watermarks.RaiseNewestAnnounced(announcement.Version);
            return;
        }

        if (_trust.CheckAnnouncement(announcement, NowMs, installed) is not { } manifest)
        {
            Refused(announcement.ModelName, announcement.Version, _trust.LastRejection, alreadyRejected: true);
            return;
        }

        _watermarks.RaiseNewestAnnounced(manifest.Version);
        _watermarks.RaiseFreshUntil(manifest.ExpiresUnixMs);
        var verified = ManifestRules.ToAnnouncement(manifest, announcement.Manifest, announcement.ArtifactBaseUrl);
        using (BeginInFlight(manifest.Version))
        {
            if (manifest.TrainingOnly) await LoadForTrainingAsync(verified).ConfigureAwait(false);
            else await SwitchAsync(verified, trial: false).ConfigureAwait(false);
        }
    }

    /// <summary>Counts and reports a refused install (<paramref name="alreadyRejected"/>: the trust gate counted the rejection itself).</summary>
    private void Refused(string model, ulong version, string reason, bool alreadyRejected = false)
    {
        Interlocked.Increment(ref _counters.ModelInstallFailures);
        if (!alreadyRejected) _trust.Reject($"{model} v{version}: {reason}");
        _logger.InstallFailed(model, version, reason);
        _statusChanged();
    }

    /// <summary>
    /// Commits a verified version on disk (the old one becomes the previous version) and switches to it atomically.
    /// With <paramref name="trial"/> the switch is marked on disk first, so a crash before the health window ends
    /// rolls it back on restart. Call under the gate.
    /// </summary>
    public async Task SwitchAsync(ModelAnnouncement verified, bool trial)
    {
        var (inference, trainStep) = await LoadSessionsAsync(verified).ConfigureAwait(false);
        try
        {
            if (_faults.FailsToLoad(_options.DeviceId, _options.Tags, verified.Version))
            {
                throw new InvalidDataException($"v{verified.Version} failed to load on this hardware (simulated)");
            }

            if (trial) _store.BeginTrial(verified.Version);
            _store.Commit(verified);
            var previous = _slots.Serve(verified, inference, trainStep);
            (inference, trainStep) = (null!, null!);
            _slots.Notice = string.Empty;
            Interlocked.Increment(ref _counters.ModelInstalls);
            Interlocked.Add(ref _counters.ArtifactBytes, (long)(verified.Inference.Size + (verified.TrainStep is { } t && previous?.TrainStep?.Sha256 != t.Sha256 ? t.Size : 0)));
            _logger.Installed(verified.ModelName, verified.Version);
        }
        finally
        {
            inference?.Dispose();
            trainStep?.Dispose();
        }
    }

    /// <summary>Goes back to the previous version on disk and serves it; false when there is none (the caller ends the trial).</summary>
    public async Task<bool> RollBackAsync()
    {
        if (!_store.RollBack()) return false;
        await LoadInstalledAsync().ConfigureAwait(false);
        return true;
    }

    /// <summary>Loads a version rounds will train on without serving it (governed fleets).</summary>
    private async Task LoadForTrainingAsync(ModelAnnouncement verified)
    {
        if (_slots.ServedVersion == verified.Version) return;
        var (inference, trainStep) = await LoadSessionsAsync(verified).ConfigureAwait(false);
        _slots.Train(verified, inference, trainStep);
        Interlocked.Add(ref _counters.ArtifactBytes, (long)(verified.Inference.Size + (verified.TrainStep?.Size ?? 0)));
    }

    /// <summary>
    /// Loads the inference session of a verified version that is not served: the target of a shadow or A/B test. It
    /// fails as an install would on this device (a version that does not load here fails there, not in a canary). Returns the session and how much the agent's resident memory grew loading it.
    /// </summary>
    public async Task<(SharedCache<InferenceModel>.Lease Session, ulong MemoryBytes)> LoadBesideAsync(ModelAnnouncement verified)
    {
        var before = Environment.WorkingSet;
        var inference = await AcquireInferenceAsync(verified, ArtifactBase(verified), SpecOf(verified)).ConfigureAwait(false);
        if (_faults.FailsToLoad(_options.DeviceId, _options.Tags, verified.Version))
        {
            inference.Dispose();
            throw new InvalidDataException($"v{verified.Version} failed to load on this hardware (simulated)");
        }

        Interlocked.Add(ref _counters.ArtifactBytes, (long)verified.Inference.Size);
        return (inference, (ulong)Math.Max(0, Environment.WorkingSet - before));
    }

    /// <summary>Another lease on the served version's inference session (shared, so no second copy), or null when nothing is served.</summary>
    public async Task<SharedCache<InferenceModel>.Lease?> LeaseServedAsync()
    {
        if (_slots.EnterServed() is not { } served) return null;
        try
        {
            // The served version holds its lease while entered, so the cache has the session: nothing is created here.
            return await _runtimes.Inference.AcquireAsync(SessionKey(served.Announcement), () => Task.FromException<InferenceModel>(new InvalidOperationException("the served session is not in the cache"))).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            return null;
        }
        finally
        {
            served.Exit();
        }
    }

    private Uri ArtifactBase(ModelAnnouncement verified) => _options.ArtifactBaseUrl ?? new Uri(verified.ArtifactBaseUrl);

    private static ModelSpec SpecOf(ModelAnnouncement verified) => ModelArchitectures.ToSpec(verified.Architecture);

    /// <summary>The inference session of a verified version (shared by content hash), checked against its signed architecture.</summary>
    private async Task<SharedCache<InferenceModel>.Lease> AcquireInferenceAsync(ModelAnnouncement verified, Uri baseUrl, ModelSpec spec)
    {
        var inference = await _runtimes.Inference.AcquireAsync(SessionKey(verified), async () =>
            InferenceModel.Load(await StoredOrFetchedAsync(baseUrl, verified.Inference).ConfigureAwait(false), spec, _runtimes.Settings, await PreprocessAsync(baseUrl, spec).ConfigureAwait(false))).ConfigureAwait(false);
        if (!inference.Value.Spec.Equals(spec))
        {
            inference.Dispose();
            throw new ArtifactRejectedException($"artifacts do not match the signed architecture {spec}");
        }

        return inference;
    }

    /// <summary>
    /// The key of a version's session in the shared cache: its file (the inference graph, or <paramref name="artifact"/>),
    /// and the preprocessing graph in front of it when the signed interface declares one (the same file behind another
    /// graph is another session).
    /// </summary>
    private static string SessionKey(ModelAnnouncement announcement, ArtifactRef? artifact = null) =>
        (artifact ?? announcement.Inference).Sha256 + (ModelStore.PreprocessSha256(announcement) is { } preprocess ? "+" + preprocess : string.Empty);

    /// <summary>The preprocessing graph the signed interface pins (from the model store, or fetched and checked), or null.</summary>
    private async Task<byte[]?> PreprocessAsync(Uri baseUrl, ModelSpec spec) =>
        spec.Preprocess is not { } declared ? null
            : await StoredOrFetchedAsync(baseUrl, new ArtifactRef { Name = ManifestRules.PreprocessArtifact, Sha256 = declared.Sha256, Size = (ulong)declared.Size, Path = ManifestRules.ArtifactPath(declared.Sha256) }).ConfigureAwait(false);

    /// <summary>Loads both sessions of a verified version (fetching and checking artifacts as needed).</summary>
    private async Task<(SharedCache<InferenceModel>.Lease Inference, SharedCache<TrainStepModel>.Lease? TrainStep)> LoadSessionsAsync(ModelAnnouncement verified)
    {
        var baseUrl = ArtifactBase(verified);
        var spec = SpecOf(verified);
        SharedCache<InferenceModel>.Lease? inference = null;
        try
        {
            inference = await AcquireInferenceAsync(verified, baseUrl, spec).ConfigureAwait(false);
            if (verified.TrainStep is null)
            {
                // Serve-only (the signed architecture declares no trained tensors; ManifestRules checked it): no train step.
                if (!_store.HasBlob(verified.Inference.Sha256)) await FetchIntoStoreAsync(baseUrl, verified.Inference).ConfigureAwait(false);
                await PreprocessAsync(baseUrl, spec).ConfigureAwait(false); // on this device's disk too, for a restart offline
                var served = (inference, (SharedCache<TrainStepModel>.Lease?)null);
                inference = null;
                return served;
            }

            var trainStep = await _runtimes.TrainSteps.AcquireAsync(SessionKey(verified, verified.TrainStep), async () =>
                new TrainStepModel(await StoredOrFetchedAsync(baseUrl, verified.TrainStep).ConfigureAwait(false), spec, _runtimes.Settings, await PreprocessAsync(baseUrl, spec).ConfigureAwait(false))).ConfigureAwait(false);
            if (trainStep.Value.Spec is not { } trained || !trained.Equals(spec))
            {
                trainStep.Dispose();
                throw new ArtifactRejectedException($"artifacts do not match the signed architecture {spec}");
            }

            // A session shared through the cache may exist while this device's disk lacks the blob.
            if (!_store.HasBlob(verified.Inference.Sha256)) await FetchIntoStoreAsync(baseUrl, verified.Inference).ConfigureAwait(false);
            if (!_store.HasBlob(verified.TrainStep.Sha256)) await FetchIntoStoreAsync(baseUrl, verified.TrainStep).ConfigureAwait(false);
            await PreprocessAsync(baseUrl, spec).ConfigureAwait(false);
            var result = (inference, trainStep);
            inference = null;
            return result;
        }
        finally
        {
            inference?.Dispose();
        }
    }

    /// <summary>The artifact from the model store, or downloaded, verified and stored first.</summary>
    private async Task<byte[]> StoredOrFetchedAsync(Uri baseUrl, ArtifactRef artifact) =>
        _store.ReadBlob(artifact.Sha256) ?? await FetchIntoStoreAsync(baseUrl, artifact).ConfigureAwait(false);

    private async Task<byte[]> FetchIntoStoreAsync(Uri baseUrl, ArtifactRef artifact)
    {
        var bytes = await _fetcher.FetchAsync(baseUrl, artifact, _inFlight.Token(_stopping)).ConfigureAwait(false);
        _store.PutBlob(artifact.Sha256, bytes);
        return bytes;
    }

    /// <summary>The failures an install survives (counted and reported; the device keeps serving what it has).</summary>
    public static bool IsInstallFailure(Exception ex) =>
        ex is ArtifactRejectedException or HttpRequestException or InvalidDataException or InvalidProtocolBufferException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException or IOException;
}
