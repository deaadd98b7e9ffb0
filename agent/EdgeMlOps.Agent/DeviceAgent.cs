using System.Buffers;
using System.Numerics.Tensors;
using EdgeMlOps.Agent.Models;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Runtime;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Tensors;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Agent;

/// <summary>A served prediction. <see cref="PredictionId"/> lets ground truth arrive later.</summary>
public sealed record PredictionResult(string PredictionId, long Label, float[] Probabilities, ulong ModelVersion);

/// <summary>What <see cref="DeviceAgent.EraseLocalData"/> removed.</summary>
public readonly record struct ErasureResult(int Samples, int Predictions, int OutboxMessages);

/// <summary>What an agent is given rather than creates, so a simulator can inject its own.</summary>
public sealed class AgentDependencies
{
    public required SampleStore Store { get; init; }

    public required HttpClient Http { get; init; }

    /// <summary>Store-and-forward queue for updates and evaluations.</summary>
    public required Outbox Outbox { get; init; }

    /// <summary>Installed model versions on disk (current and previous).</summary>
    public required ModelStore Models { get; init; }

    public ModelRuntimes Runtimes { get; init; } = new();

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    public AgentFaults Faults { get; init; } = AgentFaults.None;

    /// <summary>What the host had to do to its stores at start (a quarantined corrupt file), reported in status and health.</summary>
    public IReadOnlyList<string> StorageNotices { get; init; } = [];

    /// <summary>Opens the agent's fleet channel; MQTT to <see cref="AgentOptions.Broker"/> when not set (a simulator passes an in-memory hub or a faulty decorator).</summary>
    public IFleetChannelFactory? Channels { get; init; }

    /// <summary>
    /// The device's certificate for a TLS broker; by default the agent keeps its own in the model store's
    /// <c>identity/</c> directory and enrolls with <see cref="AgentOptions.Enrollment"/>. Not used when
    /// <see cref="Channels"/> is set (whoever opens the channels authenticates them).
    /// </summary>
    public Security.DeviceIdentity? Identity { get; init; }

    /// <summary>Limits concurrent local training (a simulator shares one across its devices).</summary>
    public SemaphoreSlim? ComputeSlots { get; init; }
}

/// <summary>Counters an operator (or a simulator) reads off a running agent.</summary>
public sealed class AgentCounters
{
    public long TasksReceived;
    /// <summary>Updates and evaluations produced and queued in the outbox.</summary>
    public long UpdatesProduced;
    /// <summary>Outbox messages the broker acknowledged.</summary>
    public long OutboxSent;
    public long TasksSkipped;
    public long MalformedMessages;
    public long ModelInstalls;
    public long ModelInstallFailures;
    /// <summary>Downloads stopped because a signed rollback directive arrived while they were in flight.</summary>
    public long InstallsPreempted;
    public long Predictions;
    public long ArtifactBytes;
}

/// <summary>
/// The device agent: serves the current global model locally, keeps labelled samples, trains
/// on them when selected for a round, and sends only weight deltas and counts off the device.
/// </summary>
public sealed partial class DeviceAgent : IAsyncDisposable
{
    private readonly AgentOptions _options;
    private readonly AgentDependencies _deps;
    private readonly Topics _topics;
    private readonly IFleetChannel _transport;
    private readonly string _brokerAddress;
    private readonly ArtifactFetcher _fetcher;
    private readonly ILogger _logger;
    private readonly EdgeMlOps.Shared.Tensors.UpdateCompressor _compressor = new();
    private readonly SemaphoreSlim _installGate = new(1, 1);
    private readonly Models.InFlightInstall _inFlight = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly object _modelGate = new();
    // Recent round ids, bounded: a device that runs for years must not remember every round.
    private readonly HashSet<string> _seenRounds = new(StringComparer.Ordinal);
    private readonly Queue<string> _seenRoundOrder = new();
    private readonly List<Task> _work = new();
    private InstalledModel? _model;
    // Governed fleets: the version rounds train on, when it is not the one served.
    private InstalledModel? _training;
    private readonly TrustGate _trust;
    private string _modelNotice = string.Empty;
    private readonly EdgeMlOps.Shared.Monitoring.LatencyHistogram _latency = new();
    private TaskCompletionSource _modelChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _outboxSignal = new(0);
    private readonly SemaphoreSlim _statusSignal = new(0);
    private int _statusRequested;
    private long _sequence;
    private readonly StorageHealth _storage = new();
    private readonly ulong _boot;
    private Task? _statusLoop;
    private Task? _identityLoop;
    private ulong _newestAnnounced;
    private long _freshUntilMs;
    private readonly Security.DeviceIdentity? _identity;
    private Task? _drainLoop;
    private Task? _flushLoop;

    public DeviceAgent(AgentOptions options, AgentDependencies dependencies)
    {
        _options = options;
        _deps = dependencies;
        _topics = new Topics(options.Fleet);
        _logger = dependencies.LoggerFactory.CreateLogger<DeviceAgent>();
        _fetcher = new ArtifactFetcher(dependencies.Http, options.MaxArtifactBytes, Models.DownloadLimits.Default with { MinBytesPerSecond = options.MinDownloadBytesPerSecond, Stall = options.DownloadStall });
        _trust = new TrustGate(options.Fleet, options.TrustedRoots, dependencies.Models.TrustBundlePath);
        _boot = BootEpoch.Next(dependencies.Models.BootEpochPath, dependencies.Time.GetUtcNow());
        var will = new LastWill(_topics.Status(options.DeviceId), Status(DeviceState.Lost).ToByteArray(), Retain: true);
        _identity = dependencies.Channels is not null || !options.Broker.Tls ? null : dependencies.Identity ?? new Security.DeviceIdentity(
            options.DeviceId,
            options.FleetCa ?? throw new ArgumentException($"Broker {options.Broker} is TLS: the fleet CA to pin is required (Agent:FleetCaFile)", nameof(options)),
            dependencies.Models.IdentityDirectory, options.Enrollment, dependencies.Http, dependencies.Time, dependencies.LoggerFactory.CreateLogger<Security.DeviceIdentity>());
        var channels = dependencies.Channels ?? new MqttChannelFactory(options.Broker, _identity?.Tls);
        _brokerAddress = channels.Address;
        _transport = channels.Create(
            new FleetChannelOptions(options.DeviceId)
            {
                SessionExpirySeconds = options.SessionExpirySeconds,
                KeepAlive = options.KeepAlive,
                Will = will,
            },
            dependencies.LoggerFactory);
        _transport.MessageReceived = OnMessageAsync;
        _transport.Connected = async _ =>
        {
            await PublishStatusAsync(DeviceState.Online, CancellationToken.None).ConfigureAwait(false);
            _outboxSignal.Release();
        };
    }

    public string DeviceId => _options.DeviceId;

    public AgentCounters Counters { get; } = new();

    /// <summary>The installed global model version (0 before the first install).</summary>
    public ulong ModelVersion
    {
        get { lock (_modelGate) return _model?.Announcement.Version ?? 0; }
    }

    public long BytesSent => _transport.BytesSent;

    /// <summary>Bytes received over MQTT plus the artifacts this device installed.</summary>
    public long BytesReceived => _transport.BytesReceived + Interlocked.Read(ref Counters.ArtifactBytes);

    public bool IsConnected => _transport.IsConnected;

    /// <summary>The installed version's announcement (name, version, architecture, artifacts), or null.</summary>
    public ModelAnnouncement? CurrentModel
    {
        get { lock (_modelGate) return _model?.Announcement; }
    }

    /// <summary>Why the device is not on the version it should be (empty when all is well).</summary>
    public string ModelNotice
    {
        get { lock (_modelGate) return _modelNotice; }
    }

    public int SampleCount => _deps.Store.SampleCount;

    /// <summary>Until when the newest verified signed manifest is valid (null before the first one).</summary>
    public DateTimeOffset? FreshUntil => Interlocked.Read(ref _freshUntilMs) is > 0 and var ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    /// <summary>Since when the device has had no valid signed statement from the fleet (null while it is current).</summary>
    public DateTimeOffset? BehindSince => FreshUntil is { } until && _deps.Time.GetUtcNow() > until ? until : null;

    /// <summary>Problems with the device's stores: a store replaced at start, or writes refused now (full disk); empty when all is well.</summary>
    public string StorageNotice => string.Join("; ", _deps.StorageNotices.Append(_storage.Problem).Where(n => n.Length > 0));

    /// <summary>Writes the device's storage refused since start.</summary>
    public long StorageFailures => _storage.Failures;

    /// <summary>Inference latency of every local prediction since start.</summary>
    public EdgeMlOps.Shared.Monitoring.LatencyHistogram InferenceLatency => _latency;

    /// <summary>The execution provider running the current model (cpu until one is loaded or after a fallback).</summary>
    public string ExecutionProvider
    {
        get { lock (_modelGate) return _model?.Inference.Value.ExecutionProvider ?? _deps.Runtimes.Settings.ExecutionProvider; }
    }

    public int OutboxPending => _deps.Outbox.Count;

    public long OutboxDropped => _deps.Outbox.Dropped;

    /// <summary>Right to erasure: deletes every labelled sample, pending prediction and queued outgoing message.</summary>
    public ErasureResult EraseLocalData()
    {
        var outbox = _deps.Outbox.Count;
        var (samples, predictions) = _storage.Write("erasure", () =>
        {
            _deps.Outbox.Clear();
            return _deps.Store.EraseAll();
        });
        LogErased(samples, predictions, outbox);
        return new ErasureResult(samples, predictions, outbox);
    }

    /// <summary>Connects (persistent session, Last Will), announces itself and subscribes to its model and task topics.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        LoadRolloutState();
        await LoadInstalledModelAsync().ConfigureAwait(false);
        await _transport.SubscribeAsync([_topics.Trust, _topics.Model, _topics.Rollout, _topics.Task(DeviceId)], cancellationToken).ConfigureAwait(false);
        if (_identity is not null)
        {
            // Without a certificate yet the device still serves; the channel keeps retrying until enrollment succeeds.
            await _identity.EnsureAsync(cancellationToken).ConfigureAwait(false);
            _identityLoop = Task.Run(() => _identity.RunAsync(_stopping.Token), CancellationToken.None);
        }

        await _transport.StartAsync(cancellationToken).ConfigureAwait(false);
        _statusLoop = Task.Run(StatusLoopAsync, CancellationToken.None);
        _drainLoop = Task.Run(DrainOutboxLoopAsync, CancellationToken.None);
        _flushLoop = Task.Run(FlushPredictionsLoopAsync, CancellationToken.None);
        _profileLoop = Task.Run(ProfileLoopAsync, CancellationToken.None);
        _sketchLoop = Task.Run(SketchLoopAsync, CancellationToken.None);
        LogStarted(DeviceId, _brokerAddress);
    }

    /// <summary>Says goodbye (OFFLINE, so the broker discards the Last Will) and disconnects.</summary>
    public async Task StopAsync()
    {
        if (_stopping.IsCancellationRequested) return;
        FlushProfile(); // into the outbox: sent after the next start, so a stop loses no window
        _stopping.Cancel();
        try
        {
            if (_transport.IsConnected) await PublishStatusAsync(DeviceState.Offline, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogPublishFailed("status", ex.Message);
        }

        await _transport.DisconnectAsync().ConfigureAwait(false);
        Task[] pending;
        lock (_work) pending = _work.ToArray();
        await Task.WhenAll(pending.Append(_statusLoop ?? Task.CompletedTask).Append(_drainLoop ?? Task.CompletedTask).Append(_flushLoop ?? Task.CompletedTask).Append(_profileLoop ?? Task.CompletedTask).Append(_sketchLoop ?? Task.CompletedTask).Append(_identityLoop ?? Task.CompletedTask)).ConfigureAwait(false);
        _deps.Store.FlushPredictions();
    }

    /// <summary>Drops the connection without saying goodbye: the broker publishes the Last Will.</summary>
    public void Crash()
    {
        _stopping.Cancel();
        _transport.Abort();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await _transport.DisposeAsync().ConfigureAwait(false);
        lock (_modelGate)
        {
            _model?.Exit();
            _model = null;
            _training?.Exit();
            _training = null;
        }

        if (_deps.Identity is null) _identity?.Dispose();
        _stopping.Dispose();
    }

    /// <summary>Runs the installed model on one feature vector and remembers it for feedback.</summary>
    public PredictionResult Predict(ReadOnlySpan<float> features) => PredictOwned(features.ToArray());

    /// <summary>
    /// <see cref="Predict(ReadOnlySpan{float})"/> without copying the features: the agent keeps the array (a
    /// prediction awaiting feedback holds it), so the caller must not change it afterwards. The local API hands over
    /// the array it parsed, which saves a copy per request.
    /// </summary>
    public PredictionResult PredictOwned(float[] features)
    {
        var model = EnterCurrentModel() ?? throw new InvalidOperationException("No model is installed yet.");
        try
        {
            var inference = model.Inference.Value;
            if (features.Length != inference.Spec.InputDim)
            {
                throw new ArgumentException($"Expected {inference.Spec.InputDim} features, got {features.Length}.", nameof(features));
            }

            var input = features;
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            PredictionBatch batch;
            try
            {
                batch = inference.Predict(input, 1);
            }
            catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
            {
                Interlocked.Increment(ref _inferenceErrors);
                throw;
            }

            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            _latency.Record(elapsed);
            _versionLatency.Record(elapsed);
            Interlocked.Increment(ref _versionPredictions);
            var id = Guid.NewGuid().ToString("N");
            _deps.Store.AddPrediction(id, input, batch.Labels[0], model.Announcement.Version);
            ProfilePrediction(model.Announcement, input, batch.Labels[0], batch.Probabilities.Length > 0 ? batch.Probabilities.Max() : float.NaN, elapsed);
            Interlocked.Increment(ref Counters.Predictions);
            return new PredictionResult(id, batch.Labels[0], batch.Probabilities, model.Announcement.Version);
        }
        finally
        {
            model.Exit();
        }
    }

    /// <summary>The current version with a user registered on it (call <see cref="InstalledModel.Exit"/>), or null.</summary>
    private InstalledModel? EnterCurrentModel()
    {
        lock (_modelGate)
        {
            // Under the lock the current version always holds the agent's reference, so entering cannot fail.
            return _model is { } m && m.TryEnter() ? m : null;
        }
    }

    /// <summary>Ground truth for an earlier prediction. False if the id is unknown or expired.</summary>
    public bool Feedback(string predictionId, long label)
    {
        if (_deps.Store.Take(predictionId) is not { } prediction) return false;
        ProfileOutcome(prediction.ModelVersion, label, prediction.Label, prediction.Features);
        if (prediction.ModelVersion == ModelVersion)
        {
            // Ground-truth accuracy of the served version since it was switched to (a rollout gate).
            Interlocked.Increment(ref _feedbackCount);
            if (prediction.Label == label) Interlocked.Increment(ref _feedbackCorrect);
        }

        _storage.Write("ground truth", () => _deps.Store.AddSamples([(prediction.Features, label)]));
        RequestStatus();
        return true;
    }

    /// <summary>Ground truth with its features (no earlier prediction needed).</summary>
    public void Feedback(float[] features, long label)
    {
        _storage.Write("ground truth", () => _deps.Store.AddSamples([(features, label)]));
        RequestStatus();
    }

    /// <summary>Many labelled samples at once, in one transaction.</summary>
    public void Feedback(IReadOnlyList<(float[] Features, long Label)> samples)
    {
        _storage.Write("ground truth", () => _deps.Store.AddSamples(samples));
        RequestStatus();
    }

    /// <summary>Asks for a status refresh soon (coalesced: a burst of feedback sends one status).</summary>
    private void RequestStatus()
    {
        if (Interlocked.Exchange(ref _statusRequested, 1) == 0) _statusSignal.Release();
    }

    /// <summary>Waits until a model of at least <paramref name="version"/> is installed.</summary>
    public async Task WaitForModelAsync(ulong version, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_modelGate)
            {
                if ((_model?.Announcement.Version ?? 0) >= version && _model is not null) return;
                changed = _modelChanged.Task;
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Publishes a status message now (birth, refresh after new data, or death).</summary>
    public Task PublishStatusAsync(CancellationToken cancellationToken) => PublishStatusAsync(DeviceState.Online, cancellationToken);

    private async Task PublishStatusAsync(DeviceState state, CancellationToken cancellationToken) =>
        await _transport.PublishAsync(_topics.Status(DeviceId), Status(state).ToByteArray(), retain: true, cancellationToken).ConfigureAwait(false);

    private DeviceStatus Status(DeviceState state)
    {
        var status = new DeviceStatus
        {
            Header = NewHeader(),
            State = state,
            AgentVersion = typeof(DeviceAgent).Assembly.GetName().Version?.ToString() ?? "0",
            ExecutionProvider = ExecutionProvider,
            LatencyP50Ms = _latency.Quantile(0.50).TotalMilliseconds,
            LatencyP95Ms = _latency.Quantile(0.95).TotalMilliseconds,
            LatencyP99Ms = _latency.Quantile(0.99).TotalMilliseconds,
            Predictions = (ulong)_latency.Count,
            RssBytes = (ulong)Environment.WorkingSet,
            InferenceErrors = (ulong)Interlocked.Read(ref _inferenceErrors),
            FeedbackCount = (ulong)Interlocked.Read(ref _feedbackCount),
            FeedbackCorrect = (ulong)Interlocked.Read(ref _feedbackCorrect),
            RejectedManifests = (ulong)_trust.Rejections,
            LastRejection = _trust.LastRejection,
            SketchesWithheld = (ulong)SketchesWithheld,
            SketchRowsDropped = (ulong)SketchRowsDropped,
            Rollout = Rollout,
            StorageNotice = StorageNotice,
            FreshUntilUnixMs = Interlocked.Read(ref _freshUntilMs),
            StatusIntervalSeconds = (uint)Math.Min(uint.MaxValue, _options.StatusInterval.TotalSeconds),
        };
        lock (_modelGate)
        {
            status.ModelName = _model?.Announcement.ModelName ?? string.Empty;
            status.ModelVersion = _model?.Announcement.Version ?? 0;
            var fallback = _model?.Inference.Value.ProviderFallback;
            status.ModelNotice = string.Join("; ", new[] { _modelNotice, fallback ?? string.Empty }.Where(n => n.Length > 0));
        }

        // The Last Will is built in the constructor, before the store may be read.
        status.SampleCount = state == DeviceState.Lost ? 0 : (ulong)_deps.Store.SampleCount;
        foreach (var (key, value) in _options.Tags) status.Tags[key] = value;
        return status;
    }

    private Header NewHeader() =>
        ProtocolInfo.NewHeader(_options.Fleet, DeviceId, (ulong)Interlocked.Increment(ref _sequence), _deps.Time.GetUtcNow().ToUnixTimeMilliseconds(), _boot);

    private async Task StatusLoopAsync()
    {
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                // Wake at the interval, or soon after local data changed (at most once a second).
                if (await _statusSignal.WaitAsync(_options.StatusInterval, _stopping.Token).ConfigureAwait(false))
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), _deps.Time, _stopping.Token).ConfigureAwait(false);
                }

                Interlocked.Exchange(ref _statusRequested, 0);
                if (!_transport.IsConnected) continue;
                try
                {
                    await PublishStatusAsync(DeviceState.Online, _stopping.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogPublishFailed("status", ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Queues a message durably and wakes the drain loop.</summary>
    private void Send(string topic, byte[] payload)
    {
        _storage.Write("outgoing message", () => _deps.Outbox.Enqueue(topic, payload));
        _outboxSignal.Release();
    }

    /// <summary>Writes buffered predictions to the store every <see cref="AgentOptions.PredictionFlushInterval"/> (batched: serving never waits on SQLite).</summary>
    private async Task FlushPredictionsLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.PredictionFlushInterval, _deps.Time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                try
                {
                    _storage.Write("prediction log", _deps.Store.FlushPredictions);
                }
                catch (Exception ex) when (ex is StorageUnavailableException or Microsoft.Data.Sqlite.SqliteException)
                {
                    LogPublishFailed("prediction log", ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Sends queued messages oldest first while connected; after a failure waits for the next (re)connection or signal.</summary>
    private async Task DrainOutboxLoopAsync()
    {
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                // Also wake periodically, in case a signal raced with a disconnect.
                await _outboxSignal.WaitAsync(TimeSpan.FromSeconds(5), _stopping.Token).ConfigureAwait(false);
                try
                {
                    await DrainOutboxAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
                {
                    // Usually the connection dropped mid-publish; the message stays queued.
                    LogPublishFailed("outbox", ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task DrainOutboxAsync()
    {
        while (_transport.IsConnected && !_stopping.IsCancellationRequested)
        {
            var batch = _deps.Outbox.Peek(32);
            if (batch.Count == 0) return;
            foreach (var message in batch)
            {
                await _transport.PublishAsync(message.Topic, message.Payload, retain: false, _stopping.Token).ConfigureAwait(false);
                _deps.Outbox.Acknowledge(message.Id);
                Interlocked.Increment(ref Counters.OutboxSent);
            }
        }
    }

    private Task OnMessageAsync(string topic, ReadOnlySequence<byte> payload)
    {
        if (_stopping.IsCancellationRequested) return Task.CompletedTask;
        if (payload.Length > ProtocolInfo.MaxPayloadBytes)
        {
            Interlocked.Increment(ref Counters.MalformedMessages);
            LogMalformed(topic, $"payload of {payload.Length} bytes exceeds the limit");
            return Task.CompletedTask;
        }

        try
        {
            if (topic == _topics.Model)
            {
                var announcement = ModelAnnouncement.Parser.ParseFrom(payload);
                Track(InstallAsync(announcement));
            }
            else if (topic == _topics.Trust)
            {
                // A refused bundle (older, forged) is counted by the gate and reported in the next status.
                if (!_trust.OfferBundle(Signed.Parser.ParseFrom(payload))) RequestStatus();
            }
            else if (topic == _topics.Rollout)
            {
                // Verified here, before the install gate: a rollback directive stops the download in flight.
                if (_trust.CheckPlan(Signed.Parser.ParseFrom(payload), NowMs) is { } plan)
                {
                    if (NotePlan(plan) && plan.State == RolloutState.Aborted) PreemptInstall(plan);
                    Track(ApplyPlanAsync(plan));
                }
                else
                {
                    RequestStatus();
                }
            }
            else if (topic == _topics.Task(DeviceId))
            {
                // Only a task signed by the fleet, for this device, is worked on; anything else is counted and reported.
                var task = _trust.CheckTask(Signed.Parser.ParseFrom(payload), NowMs, DeviceId);
                if (task is not null)
                {
                    Track(RunTaskAsync(task));
                    return Task.CompletedTask;
                }

                Interlocked.Increment(ref Counters.TasksSkipped);
                LogSkipped("(refused)", _trust.LastRejection);
                RequestStatus();
            }
        }
        catch (InvalidProtocolBufferException ex)
        {
            Interlocked.Increment(ref Counters.MalformedMessages);
            LogMalformed(topic, ex.Message);
        }

        return Task.CompletedTask;
    }

    // Long work leaves the MQTT receive loop at once; StopAsync waits for it.
    private void Track(Task task)
    {
        lock (_work)
        {
            _work.RemoveAll(t => t.IsCompleted);
            _work.Add(task);
        }
    }

    /// <summary>
    /// A loaded version plus a count of its users. The agent's reference counts as one user; a
    /// prediction or training run enters and exits, so a version replaced mid-request is disposed
    /// only after the request finishes.
    /// </summary>
    private sealed class InstalledModel(ModelAnnouncement announcement, SharedCache<InferenceModel>.Lease inference, SharedCache<TrainStepModel>.Lease trainStep)
    {
        private int _users = 1;

        public ModelAnnouncement Announcement { get; } = announcement;

        public SharedCache<InferenceModel>.Lease Inference { get; } = inference;

        public SharedCache<TrainStepModel>.Lease TrainStep { get; } = trainStep;

        /// <summary>Registers a user; false once the version has been fully released.</summary>
        public bool TryEnter()
        {
            while (true)
            {
                var users = Volatile.Read(ref _users);
                if (users == 0) return false;
                if (Interlocked.CompareExchange(ref _users, users + 1, users) == users) return true;
            }
        }

        /// <summary>Drops a user (or the agent's own reference); the last one releases the sessions.</summary>
        public void Exit()
        {
            if (Interlocked.Decrement(ref _users) == 0)
            {
                Inference.Dispose();
                TrainStep.Dispose();
            }
        }
    }
}
