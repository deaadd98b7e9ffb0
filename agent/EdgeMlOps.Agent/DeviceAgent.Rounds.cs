using System.Diagnostics;
using System.Numerics.Tensors;
using EdgeMlOps.Agent.Models;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Tensors;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;

namespace EdgeMlOps.Agent;

public sealed partial class DeviceAgent
{
    /// <summary>
    /// Serves the version installed on disk before any network is available, so a device that
    /// restarts offline keeps predicting. A corrupt current version falls back to the previous one;
    /// a version still in its health window when the process stopped (it crashed on load or while
    /// serving) is rolled back.
    /// </summary>
    private async Task LoadInstalledModelAsync()
    {
        if (_deps.Models.TrialVersion is { } trial)
        {
            _deps.Models.EndTrial();
            if (_deps.Models.CurrentVersion == trial && _deps.Models.RollBack())
            {
                _modelNotice = $"v{trial} did not finish its health window (the agent stopped or crashed during it); rolled back to v{_deps.Models.CurrentVersion}";
                LogModelFallback(_modelNotice);
                lock (_rolloutGate)
                {
                    if (_progress is { } p && p.TargetVersion == trial) _progress = new RolloutProgress(p) { Phase = RolloutPhase.RolledBack, Reason = _modelNotice };
                }
            }
        }

        var load = _deps.Models.LoadCurrent();
        if (load.FallbackReason is { } reason)
        {
            _modelNotice = reason;
            LogModelFallback(reason);
        }

        if (load.Model is not { } stored) return;
        try
        {
            var a = stored.Announcement;
            var inference = await _deps.Runtimes.Inference.AcquireAsync(a.Inference.Sha256, () => Task.FromResult(InferenceModel.Load(stored.Inference, _deps.Runtimes.Settings))).ConfigureAwait(false);
            var trainStep = await _deps.Runtimes.TrainSteps.AcquireAsync(a.TrainStep.Sha256, () => Task.FromResult(new TrainStepModel(stored.TrainStep, inference.Value.Spec, _deps.Runtimes.Settings))).ConfigureAwait(false);
            Activate(a, inference, trainStep);
            LogInstalled(a.ModelName, a.Version);
        }
        catch (Exception ex) when (ex is InvalidDataException or InvalidProtocolBufferException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            _modelNotice = $"installed model failed to load: {ex.Message}";
            LogModelFallback(_modelNotice);
        }
    }

    /// <summary>
    /// A retained announcement arrived: verify its trust bundle and signed manifest (key, expiry,
    /// version, and that the unsigned fields match), then either serve it (auto mode) or load it
    /// for training only (governed fleets). Rejections are counted with their reason.
    /// </summary>
    private async Task InstallAsync(ModelAnnouncement announcement)
    {
        if (!await EnterInstallGateAsync().ConfigureAwait(false)) return;
        try
        {
            if (announcement.Header?.ProtocolVersion != ProtocolInfo.CurrentVersion)
            {
                throw new ArtifactRejectedException("announcement from another protocol version");
            }

            // The trust bundle first, before any version comparison: a key rotation or revocation must reach a
            // device that already runs the newest version, or a manifest signed with the revoked key would pass.
            if (announcement.Trust is not null && !_trust.OfferBundle(announcement.Trust))
            {
                Interlocked.Increment(ref Counters.ModelInstallFailures);
                LogInstallFailed(announcement.ModelName, announcement.Version, _trust.LastRejection);
                RequestStatus();
                return;
            }

            // The retained announcement only moves forward; an older one is a replay (a freeze attempt): counted and reported.
            var newest = Interlocked.Read(ref _newestAnnounced);
            if (announcement.Version < newest)
            {
                _trust.Reject($"announcement of {announcement.ModelName} v{announcement.Version} is older than v{newest} already announced (replay?)");
                RequestStatus();
                return;
            }

            var installed = announcement.TrainingOnly ? Math.Max(TrainingVersion, ModelVersion) : ModelVersion;
            if (announcement.Version <= installed && announcement.Version != 0)
            {
                // The same version, freshly signed: nothing to install, but proof the device is not frozen.
                if (announcement.Version == installed && _trust.CheckAnnouncement(announcement, NowMs, installed - 1) is { } fresh) RaiseFreshUntil(fresh.ExpiresUnixMs);
                RaiseNewestAnnounced(announcement.Version);
                return;
            }
            if (_trust.CheckAnnouncement(announcement, NowMs, installed) is not { } manifest)
            {
                Interlocked.Increment(ref Counters.ModelInstallFailures);
                LogInstallFailed(announcement.ModelName, announcement.Version, _trust.LastRejection);
                RequestStatus();
                return;
            }

            RaiseNewestAnnounced(manifest.Version);
            RaiseFreshUntil(manifest.ExpiresUnixMs);
            var verified = ManifestRules.ToAnnouncement(manifest, announcement.Manifest, announcement.ArtifactBaseUrl);
            using (_inFlight.Begin(manifest.Version, _stopping.Token))
            {
                if (manifest.TrainingOnly) await LoadForTrainingAsync(verified).ConfigureAwait(false);
                else await SwitchAsync(verified, trial: false).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
        {
            // A rollback directive stopped this download to go first; the announcement is installed after it.
            Track(InstallAsync(announcement));
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex) when (IsInstallFailure(ex))
        {
            Interlocked.Increment(ref Counters.ModelInstallFailures);
            _trust.Reject($"{announcement.ModelName} v{announcement.Version}: {ex.Message}");
            LogInstallFailed(announcement.ModelName, announcement.Version, ex.Message);
            RequestStatus();
        }
        finally
        {
            _installGate.Release();
        }
    }

    private void RaiseFreshUntil(long expiresUnixMs)
    {
        var seen = Interlocked.Read(ref _freshUntilMs);
        while (expiresUnixMs > seen && Interlocked.CompareExchange(ref _freshUntilMs, expiresUnixMs, seen) != seen) seen = Interlocked.Read(ref _freshUntilMs);
    }

    private void RaiseNewestAnnounced(ulong version)
    {
        var seen = Interlocked.Read(ref _newestAnnounced);
        while (version > seen && Interlocked.CompareExchange(ref _newestAnnounced, version, seen) != seen) seen = Interlocked.Read(ref _newestAnnounced);
    }

    /// <summary>Takes the install gate; false when the agent stops while waiting (a stop is not an error).</summary>
    private async Task<bool> EnterInstallGateAsync()
    {
        try
        {
            await _installGate.WaitAsync(_stopping.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Loads both sessions of a verified version (fetching and checking artifacts as needed).</summary>
    private async Task<(SharedCache<InferenceModel>.Lease Inference, SharedCache<TrainStepModel>.Lease TrainStep)> LoadSessionsAsync(ModelAnnouncement verified)
    {
        var baseUrl = _options.ArtifactBaseUrl ?? new Uri(verified.ArtifactBaseUrl);
        var spec = new ModelSpec((int)verified.Architecture.InputDim, verified.Architecture.Hidden.Select(h => (int)h).ToArray(), (int)verified.Architecture.Classes);
        SharedCache<InferenceModel>.Lease? inference = null;
        try
        {
            inference = await _deps.Runtimes.Inference.AcquireAsync(verified.Inference.Sha256, async () =>
                InferenceModel.Load(await StoredOrFetchedAsync(baseUrl, verified.Inference).ConfigureAwait(false), _deps.Runtimes.Settings)).ConfigureAwait(false);
            var trainStep = await _deps.Runtimes.TrainSteps.AcquireAsync(verified.TrainStep.Sha256, async () =>
                new TrainStepModel(await StoredOrFetchedAsync(baseUrl, verified.TrainStep).ConfigureAwait(false), spec, _deps.Runtimes.Settings)).ConfigureAwait(false);
            if (!inference.Value.Spec.Equals(spec) || !trainStep.Value.Spec.Equals(spec))
            {
                trainStep.Dispose();
                throw new ArtifactRejectedException($"artifacts do not match the signed architecture {spec}");
            }

            // A session shared through the cache may exist while this device's disk lacks the blob.
            if (!_deps.Models.HasBlob(verified.Inference.Sha256)) await FetchIntoStoreAsync(baseUrl, verified.Inference).ConfigureAwait(false);
            if (!_deps.Models.HasBlob(verified.TrainStep.Sha256)) await FetchIntoStoreAsync(baseUrl, verified.TrainStep).ConfigureAwait(false);
            var result = (inference, trainStep);
            inference = null;
            return result;
        }
        finally
        {
            inference?.Dispose();
        }
    }

    /// <summary>
    /// Commits a verified version on disk (the old one becomes the previous version) and switches
    /// to it atomically. With <paramref name="trial"/> the switch is marked on disk first, so a
    /// crash before the health window ends rolls it back on restart.
    /// </summary>
    private async Task SwitchAsync(ModelAnnouncement verified, bool trial)
    {
        var (inference, trainStep) = await LoadSessionsAsync(verified).ConfigureAwait(false);
        try
        {
            if (_deps.Faults.FailsToLoad(DeviceId, _options.Tags, verified.Version))
            {
                throw new InvalidDataException($"v{verified.Version} failed to load on this hardware (simulated)");
            }

            if (trial) _deps.Models.BeginTrial(verified.Version);
            _deps.Models.Commit(verified);
            var previous = Activate(verified, inference, trainStep);
            (inference, trainStep) = (null!, null!);
            _modelNotice = string.Empty;
            Interlocked.Increment(ref Counters.ModelInstalls);
            Interlocked.Add(ref Counters.ArtifactBytes, (long)(verified.Inference.Size + (previous?.TrainStep.Sha256 != verified.TrainStep.Sha256 ? verified.TrainStep.Size : 0)));
            LogInstalled(verified.ModelName, verified.Version);
        }
        finally
        {
            inference?.Dispose();
            trainStep?.Dispose();
        }
    }

    /// <summary>Loads a version rounds will train on without serving it (governed fleets).</summary>
    private async Task LoadForTrainingAsync(ModelAnnouncement verified)
    {
        if (ModelVersion == verified.Version) return;
        var (inference, trainStep) = await LoadSessionsAsync(verified).ConfigureAwait(false);
        Swap(ref _training, new InstalledModel(verified, inference, trainStep))?.Exit();
        Interlocked.Add(ref Counters.ArtifactBytes, (long)(verified.Inference.Size + verified.TrainStep.Size));
    }

    /// <summary>The artifact from the model store, or downloaded, verified and stored first.</summary>
    private async Task<byte[]> StoredOrFetchedAsync(Uri baseUrl, ArtifactRef artifact) =>
        _deps.Models.ReadBlob(artifact.Sha256) ?? await FetchIntoStoreAsync(baseUrl, artifact).ConfigureAwait(false);

    private async Task<byte[]> FetchIntoStoreAsync(Uri baseUrl, ArtifactRef artifact)
    {
        var bytes = await _fetcher.FetchAsync(baseUrl, artifact, _inFlight.Token(_stopping.Token)).ConfigureAwait(false);
        _deps.Models.PutBlob(artifact.Sha256, bytes);
        return bytes;
    }

    /// <summary>Switches to a loaded version; returns the announcement of the one replaced.</summary>
    private ModelAnnouncement? Activate(ModelAnnouncement announcement, SharedCache<InferenceModel>.Lease inference, SharedCache<TrainStepModel>.Lease trainStep)
    {
        var previous = Swap(ref _model, new InstalledModel(announcement, inference, trainStep));
        ResetVersionHealth();
        previous?.Exit();
        return previous?.Announcement;
    }

    /// <summary>Puts <paramref name="next"/> in a slot (served or training) and wakes whoever waits for a version; returns the one replaced (still entered: the caller exits it).</summary>
    private InstalledModel? Swap(ref InstalledModel? slot, InstalledModel next)
    {
        InstalledModel? previous;
        TaskCompletionSource changed;
        lock (_modelGate)
        {
            previous = slot;
            slot = next;
            changed = _modelChanged;
            _modelChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
        return previous;
    }

    private async Task RunTaskAsync(RoundTask task)
    {
        Interlocked.Increment(ref Counters.TasksReceived);
        lock (_seenRounds)
        {
            // QoS 1 may deliver a task twice; train once.
            if (!_seenRounds.Add(task.RoundId))
            {
                Interlocked.Increment(ref Counters.TasksSkipped);
                return;
            }

            _seenRoundOrder.Enqueue(task.RoundId);
            if (_seenRoundOrder.Count > 256) _seenRounds.Remove(_seenRoundOrder.Dequeue());
        }

        // The task's deadline, but never beyond the device's own cap on work per task.
        var deadline = DateTimeOffset.FromUnixTimeMilliseconds(task.DeadlineUnixMs);
        var budget = Clamp(deadline - _deps.Time.GetUtcNow());
        using var timeout = new CancellationTokenSource(budget < _options.MaxTrainingTime ? budget : _options.MaxTrainingTime, _deps.Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _stopping.Token);
        try
        {
            if (task.Header?.ProtocolVersion != ProtocolInfo.CurrentVersion) throw new InvalidDataException("task from another protocol version");
            await WaitForBaseAsync(task.BaseVersion, linked.Token).ConfigureAwait(false);
            var model = EnterModelFor(task.BaseVersion)!;
            IMessage? message;
            try
            {
                if (model.Announcement.Version != task.BaseVersion || model.Announcement.ModelName != task.ModelName)
                {
                    Interlocked.Increment(ref Counters.TasksSkipped);
                    LogSkipped(task.RoundId, $"task trains {task.ModelName} v{task.BaseVersion}, device has v{model.Announcement.Version}");
                    return;
                }

                message = task.Kind == TaskKind.Evaluate
                    ? Evaluate(task, model)
                    : await TrainAsync(task, model, linked.Token).ConfigureAwait(false);
            }
            finally
            {
                model.Exit();
            }

            if (message is null) return;
            var topic = task.Kind == TaskKind.Evaluate ? _topics.Evaluation(DeviceId) : _topics.Update(DeviceId);
            Send(topic, message.ToByteArray());
            Interlocked.Increment(ref Counters.UpdatesProduced);
        }
        catch (OperationCanceledException)
        {
            Interlocked.Increment(ref Counters.TasksSkipped);
            if (!_stopping.IsCancellationRequested) LogSkipped(task.RoundId, "deadline passed");
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Interlocked.Increment(ref Counters.TasksSkipped);
            LogTaskFailed(task.RoundId, ex);
        }
    }

    /// <summary>The served or the training-only version matching <paramref name="version"/> (entered), else the served one.</summary>
    private InstalledModel? EnterModelFor(ulong version)
    {
        lock (_modelGate)
        {
            var model = _training is { } t && t.Announcement.Version == version ? t : _model;
            return model is not null && model.TryEnter() ? model : null;
        }
    }

    /// <summary>Waits until the served or the training-only version reaches <paramref name="version"/>.</summary>
    private async Task WaitForBaseAsync(ulong version, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_modelGate)
            {
                if (Math.Max(_model?.Announcement.Version ?? 0, _training?.Announcement.Version ?? 0) >= version) return;
                changed = _modelChanged.Task;
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<ModelUpdate?> TrainAsync(RoundTask task, InstalledModel model, CancellationToken cancellationToken)
    {
        var config = task.Config ?? new TrainConfig { LocalEpochs = 1, BatchSize = 10, LearningRate = 0.05f };
        if (config.LocalEpochs == 0 || config.BatchSize == 0 || !float.IsFinite(config.LearningRate) || config.LearningRate <= 0
            || !(config.ProximalMu >= 0) || !float.IsFinite(config.ProximalMu)
            || (config.UpdateEncoding == TensorEncoding.SparseTopK && !(config.TopKFraction > 0 && config.TopKFraction <= 1)))
        {
            throw new InvalidDataException($"bad train config: E={config.LocalEpochs} B={config.BatchSize} lr={config.LearningRate} mu={config.ProximalMu} encoding={config.UpdateEncoding} k={config.TopKFraction}");
        }

        if (config.LocalEpochs > _options.MaxLocalEpochs)
        {
            throw new InvalidDataException($"task asks for {config.LocalEpochs} local epochs; this device's policy allows {_options.MaxLocalEpochs} (Agent:MaxLocalEpochs)");
        }

        var baseWeights = model.Inference.Value.Weights;
        var samples = _deps.Store.LoadSamples(baseWeights.Spec.InputDim, (int)config.MaxSamples);
        if (samples.Count == 0)
        {
            Interlocked.Increment(ref Counters.TasksSkipped);
            LogSkipped(task.RoundId, "no labelled samples");
            return null;
        }

        var slots = _deps.ComputeSlots;
        if (slots is not null) await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        LocalTrainingResult result;
        var clock = Stopwatch.StartNew();
        try
        {
            var plan = new LocalTrainingPlan((int)config.LocalEpochs, (int)config.BatchSize, config.LearningRate, StableHash.Seed(task.Seed, DeviceId), config.ProximalMu);
            result = model.TrainStep.Value.Train(baseWeights.Values, samples.Features, samples.Labels, plan, cancellationToken);
        }
        finally
        {
            slots?.Release();
        }

        var delta = result.Weights;
        TensorPrimitives.Subtract(delta, baseWeights.Values, delta);
        var update = new ModelUpdate
        {
            Header = NewHeader(),
            RoundId = task.RoundId,
            ModelName = task.ModelName,
            BaseVersion = task.BaseVersion,
            SampleCount = (ulong)samples.Count,
            Metrics = new LocalMetrics
            {
                Loss = result.Loss,
                Accuracy = result.Accuracy,
                InitialLoss = result.InitialLoss,
                Steps = (uint)result.Steps,
                TrainMillis = (uint)clock.ElapsedMilliseconds,
            },
        };
        if (config.TrainingProfileShare > 0 && StableHash.UnitInterval(DeviceId, task.RoundId) < config.TrainingProfileShare)
        {
            update.TrainingProfile = TrainingProfile(samples.Features, samples.Count, baseWeights.Spec.InputDim, baseWeights.Spec.Classes, CategoricalInputs(model.Announcement, baseWeights.Spec.InputDim), samples.Labels);
        }
        var quantizationNoise = new Random(StableHash.Seed(task.Seed, DeviceId + "/quantization"));
        update.Delta.AddRange(_compressor.Compress(baseWeights.Layout, delta, CompressionSettings.From(config), quantizationNoise));
        LogTrained(task.RoundId, samples.Count, result.Steps, result.Loss);
        return update;
    }

    private EvaluationResult Evaluate(RoundTask task, InstalledModel model)
    {
        var inference = model.Inference.Value;
        var samples = _deps.Store.LoadSamples(inference.Spec.InputDim, (int)(task.Config?.MaxSamples ?? 0));
        var score = samples.Count == 0 ? new EvaluationScore(0, 0, 0) : inference.Evaluate(samples.Features, samples.Labels);
        return new EvaluationResult
        {
            Header = NewHeader(),
            RoundId = task.RoundId,
            ModelName = task.ModelName,
            Version = model.Announcement.Version,
            SampleCount = (ulong)score.Samples,
            Loss = score.Loss,
            Accuracy = score.Accuracy,
        };
    }

    private static TimeSpan Clamp(TimeSpan span) =>
        span < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : span > TimeSpan.FromDays(1) ? TimeSpan.FromDays(1) : span;
}
