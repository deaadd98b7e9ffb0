using System.Buffers;
using EdgeMlOps.Agent.Messaging;
using EdgeMlOps.Agent.Models;
using EdgeMlOps.Agent.Monitoring;
using EdgeMlOps.Agent.Presence;
using EdgeMlOps.Agent.Rollouts;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Agent.Training;
using EdgeMlOps.Runtime;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent;

/// <summary>A served prediction. <see cref="PredictionId"/> lets ground truth arrive later.</summary>
public sealed record PredictionResult(string PredictionId, long Label, float[] Probabilities, ulong ModelVersion)
{
    /// <summary>In a streaming classifier's session: whether this call started from zeros (a new session, or one whose state was dropped); null outside a session.</summary>
    public bool? StateReset { get; init; }
}

/// <summary>What <see cref="DeviceAgent.EraseLocalData"/> removed.</summary>
public readonly record struct ErasureResult(int Samples, int Predictions, int OutboxMessages);

/// <summary>
/// The device agent: serves the current global model locally, keeps labelled samples, trains on them when selected
/// for a round, and sends only weight deltas, counts and sketches off the device. A facade over services with one job
/// each — <see cref="ModelSlots"/> (what is loaded), <see cref="ModelInstaller"/> (verified installs),
/// <see cref="RolloutController"/> (signed plans), <see cref="TrainingWorker"/> (round tasks),
/// <see cref="WindowProfiler"/> (monitoring), <see cref="OutboxPump"/> (store and forward) and
/// <see cref="PresenceReporter"/> (status) — wired here to one fleet channel.
/// </summary>
public sealed class DeviceAgent : IAsyncDisposable
{
    private readonly AgentOptions _options;
    private readonly AgentDependencies _deps;
    private readonly Topics _topics;
    private readonly FreshnessTracker _freshness;
    private readonly IFleetChannel _channel;
    private readonly ILogger _logger;
    private readonly BackgroundWork _work = new();
    private readonly StorageHealth _storage;
    private readonly MessageHeaders _headers;
    private readonly ModelSlots _slots = new();
    private readonly ServingHealth _health = new();
    private readonly ModelInstaller _installer;
    private readonly RolloutController _rollouts;
    private readonly TrainingWorker _training;
    private readonly WindowProfiler _profiler;
    private readonly OutboxPump _outbox;
    private readonly PresenceReporter _presence;
    private readonly Security.DeviceIdentity? _identity;
    private readonly Serving.Predictor _predictor;
    private readonly Serving.ValuePredictor _values;
    private readonly Serving.RecurrentSessions _sessions;
    private readonly Serving.TensorPredictor _tensors;
    private int _loaded;

    public DeviceAgent(AgentOptions options, AgentDependencies dependencies)
    {
        _options = options;
        _deps = dependencies;
        _topics = new Topics(options.Fleet, options.Line);
        _logger = dependencies.LoggerFactory.CreateLogger<DeviceAgent>();
        Trust = new TrustGate(_topics.ProtocolFleet, options.TrustedRoots, dependencies.Models.TrustBundlePath);
        _storage = new StorageHealth(dependencies.ReadOnlyStorage);
        _headers = new MessageHeaders(_topics.ProtocolFleet, options.DeviceId, BootEpoch.Next(dependencies.Models.BootEpochPath, dependencies.Time.GetUtcNow()), dependencies.Time);

        // The services the Last Will's status reads come first; they reach the outbox and presence (made with the channel) only later.
        _profiler = new WindowProfiler(options, dependencies.Time, _headers, SendProfile);
        _freshness = new FreshnessTracker([_topics.Model, _topics.Trust, _topics.Rollout], Trust);
        _installer = new ModelInstaller(options, dependencies, Trust, _slots, Counters, RequestStatus, _work.Stopping, _logger);
        _rollouts = new RolloutController(options, _installer, _slots, dependencies, Trust, _health, Counters, _work, RequestStatus, _logger);
        _identity = dependencies.Channels is not null || !options.Broker.Tls ? null : dependencies.Identity ?? new Security.DeviceIdentity(
            options.DeviceId,
            options.FleetCa ?? throw new ArgumentException($"Broker {options.Broker} is TLS: the fleet CA to pin is required (Agent:FleetCaFile)", nameof(options)),
            dependencies.Models.IdentityDirectory, options.Enrollment, dependencies.Http, dependencies.Time, dependencies.LoggerFactory.CreateLogger<Security.DeviceIdentity>());
        var channels = dependencies.Channels ?? (options.Line is null ? new MqttChannelFactory(options.Broker, _identity?.Tls)
            : throw new ArgumentException($"Model line '{options.Line}' runs on its device's connection: pass the first model's (Connection.Views) as Channels", nameof(dependencies)));
        BrokerAddress = channels.Address;

        // The first model's agent owns the device's one connection; its model lines' agents share it (ModelLines).
        Connection = options.Line is null ? new SharedFleetChannel(channels) : null;
        _channel = (Connection?.Owner ?? channels).Create(
            new FleetChannelOptions(options.DeviceId)
            {
                SessionExpirySeconds = options.SessionExpirySeconds,
                KeepAlive = options.KeepAlive,
                Will = new LastWill(_topics.Status(options.DeviceId), Status(DeviceState.Lost).ToByteArray(), Retain: true),
            },
            dependencies.LoggerFactory);

        _outbox = new OutboxPump(_channel, dependencies.Outbox, _storage, Counters, dependencies.Time, _logger);
        _presence = new PresenceReporter(_channel, _topics, options.DeviceId, options.StatusInterval, dependencies.Time, Status, _logger);
        _training = new TrainingWorker(options, _slots, dependencies, _headers, _topics, _outbox, Counters, _work.Stopping, _logger);
        _sessions = new Serving.RecurrentSessions(dependencies.Time);
        _predictor = new Serving.Predictor(_slots, _health, _rollouts, _profiler, dependencies.Store, Counters, _sessions);
        _values = new Serving.ValuePredictor(_slots, _health, _rollouts, _profiler, dependencies.Store, Counters, _sessions);
        _tensors = new Serving.TensorPredictor(_slots, _health, Counters, _sessions, _profiler);
        Explainer = new Serving.LocalExplainer(_slots, dependencies.Store, options.Explain);
        _slots.ServedChanged += _health.ResetVersion;
        _channel.MessageReceived = OnMessageAsync;
        _channel.Connected = async _ =>
        {
            await _presence.PublishAsync(DeviceState.Online, CancellationToken.None).ConfigureAwait(false);
            _outbox.Wake();
        };
    }

    public string DeviceId => _options.DeviceId;

    /// <summary>The device's connection, shared with its model lines' agents (null for a line's agent, which uses it).</summary>
    public SharedFleetChannel? Connection { get; }

    /// <summary>The model line this agent runs, or null for the fleet's first model.</summary>
    public string? Line => _options.Line;

    /// <summary>Where the fleet channel connects (the broker's address).</summary>
    public string BrokerAddress { get; }

    public AgentCounters Counters { get; } = new();

    /// <summary>Manifests, bundles, plans and tasks this device refused, and why the last one was.</summary>
    public TrustGate Trust { get; }

    /// <summary>The served global model version (0 before the first install).</summary>
    public ulong ModelVersion => _slots.ServedVersion;

    /// <summary>The version loaded for training only (governed fleets), or 0.</summary>
    public ulong TrainingVersion => _slots.TrainingVersion;

    /// <summary>The served version's announcement (name, version, architecture, artifacts), or null.</summary>
    public ModelAnnouncement? CurrentModel => _slots.Served;

    /// <summary>Shapley explanations and what-if answers of the served version (<c>/v1/explain</c>, <c>/v1/whatif</c>).</summary>
    internal Serving.LocalExplainer Explainer { get; }

    /// <summary>The device's part in rollouts: the running shadow and A/B tests, the plan in force.</summary>
    internal RolloutController RolloutControl => _rollouts;

    /// <summary>Why the device is not on the version it should be (empty when all is well).</summary>
    public string ModelNotice => _slots.Notice;

    /// <summary>The execution provider running the current model (cpu until one is loaded or after a fallback).</summary>
    public string ExecutionProvider => _slots.ExecutionProvider(_deps.Runtimes.Settings.ExecutionProvider);

    /// <summary>The device's part in the current rollout (null before any plan applied to it).</summary>
    public RolloutProgress? Rollout => _rollouts.Memory.Progress;

    /// <summary>The device's shadow test of a rollout's version (running, or the last one), or null.</summary>
    public ShadowReport? Shadow => _rollouts.Shadow.Report();

    /// <summary>The device's part in a rollout's A/B test (running, or the last one), or null.</summary>
    public ExperimentReport? Experiment => _rollouts.Experiment.Report();

    public long BytesSent => _channel.BytesSent;

    /// <summary>Bytes received over the fleet channel plus the artifacts this device installed.</summary>
    public long BytesReceived => _channel.BytesReceived + Interlocked.Read(ref Counters.ArtifactBytes);

    public bool IsConnected => _channel.IsConnected;

    public int SampleCount => _deps.Store.SampleCount;

    /// <summary>Until when the device knows it hears the fleet's latest signed statements (null before the first one).</summary>
    public DateTimeOffset? FreshUntil => EdgeMlOps.Shared.Protocol.WireTime.Stated(FreshUntilUnixMs);

    /// <summary>The fresh statement's expiry (or sooner, when it names something that has not arrived); without one, the manifests'.</summary>
    private long FreshUntilUnixMs => _freshness.FreshUntilUnixMs(_installer.FreshUntilUnixMs);

    /// <summary>Since when the device has had no valid signed statement from the fleet (null while it is current).</summary>
    public DateTimeOffset? BehindSince => FreshUntil is { } until && _deps.Time.GetUtcNow() > until ? until : null;

    /// <summary>Problems with the device's stores: a store replaced at start, or writes refused now (full disk); empty when all is well.</summary>
    public string StorageNotice => string.Join("; ", _deps.StorageNotices.Append(_storage.Problem).Where(n => n.Length > 0));

    /// <summary>Writes the device's storage refused since start.</summary>
    public long StorageFailures => _storage.Failures;

    /// <summary>Inference latency of every local prediction since start.</summary>
    public EdgeMlOps.Shared.Monitoring.LatencyHistogram InferenceLatency => _health.Latency;

    /// <summary>Runs of the served model that failed in ONNX Runtime (the rollout gates compare their rate).</summary>
    public long InferenceErrors => _health.InferenceErrors;

    public int OutboxPending => _deps.Outbox.Count;

    public long OutboxDropped => _deps.Outbox.Dropped;

    /// <summary>Window profiles published (sketches and counts of served predictions).</summary>
    public long ProfilesPublished => _profiler.Published;

    /// <summary>Windows whose feature sketches were withheld for holding fewer rows than the sketch policy's floor.</summary>
    public long SketchesWithheld => _profiler.SketchesWithheld;

    /// <summary>Predictions whose inputs were not sketched because the sketching queue was full (their counts were kept).</summary>
    public long SketchRowsDropped => _profiler.SketchRowsDropped;

    /// <summary>Right to erasure: deletes every labelled sample, pending prediction and queued outgoing message.</summary>
    public ErasureResult EraseLocalData()
    {
        var outbox = _deps.Outbox.Count;
        var (samples, predictions) = _storage.Write("erasure", () =>
        {
            _deps.Outbox.Clear();
            _sessions.Clear();
            return _deps.Store.EraseAll();
        });
        _logger.Erased(samples, predictions, outbox);
        return new ErasureResult(samples, predictions, outbox);
    }

    /// <summary>
    /// Loads what the device keeps — its rollout memory, a trial to recover, the installed model — so it serves before
    /// any network: the host starts its local API after this and before <see cref="StartAsync"/> connects (a broker that
    /// never answers costs a connect attempt's timeout, which serving must not wait for). Once; StartAsync calls it too.
    /// </summary>
    public async Task LoadAsync()
    {
        if (Interlocked.Exchange(ref _loaded, 1) == 1) return;
        _rollouts.Memory.Load();
        if (_installer.RecoverTrial() is { } rolledBack) _rollouts.Memory.MarkRolledBack(rolledBack.Version, rolledBack.Reason);
        await _installer.LoadInstalledAsync().ConfigureAwait(false);
    }

    /// <summary>Serves what is installed, connects (persistent session, Last Will), announces itself and subscribes to its model, rollout and task topics.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await LoadAsync().ConfigureAwait(false);
        await _channel.SubscribeAsync([_topics.Trust, _topics.Model, _topics.Rollout, _topics.Timestamp, _topics.Task(DeviceId)], cancellationToken).ConfigureAwait(false);
        if (_identity is not null)
        {
            // Without a certificate yet the device still serves; the channel keeps retrying until enrollment succeeds.
            await _identity.EnsureAsync(cancellationToken).ConfigureAwait(false);
            _work.Run(_identity.RunAsync);
        }

        await _channel.StartAsync(cancellationToken).ConfigureAwait(false);
        _work.Run(_presence.RunAsync);
        _work.Run(_outbox.RunAsync);
        _work.Run(new PredictionLogFlusher(_deps.Store, _storage, _options.PredictionFlushInterval, _deps.Time, _logger).RunAsync);
        _work.Run(_profiler.RunAsync);
        if (_channel.IsConnected) _logger.Started(DeviceId, BrokerAddress);
        else _logger.StartedOffline(DeviceId, BrokerAddress); // never "connected" after a refusal
    }

    /// <summary>Says goodbye (OFFLINE, so the broker discards the Last Will) and disconnects.</summary>
    public async Task StopAsync()
    {
        if (_work.IsStopping) return;
        _profiler.Flush(); // into the outbox: sent after the next start, so a stop loses no window
        _work.Cancel();
        try
        {
            if (_channel.IsConnected) await _presence.PublishAsync(DeviceState.Offline, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _logger.PublishFailed("status", ex.Message);
        }

        await _channel.DisconnectAsync().ConfigureAwait(false);
        await _work.WhenAllAsync().ConfigureAwait(false);
        _deps.Store.FlushPredictions();
    }

    /// <summary>Drops the connection without saying goodbye: the broker publishes the Last Will.</summary>
    public void Crash()
    {
        _work.Cancel();
        _channel.Abort();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await _channel.DisposeAsync().ConfigureAwait(false);
        await _rollouts.Shadow.DisposeAsync().ConfigureAwait(false);
        _rollouts.Experiment.End();
        _slots.Dispose();
        if (_deps.Identity is null) _identity?.Dispose();
        _work.Dispose();
    }

    /// <summary>Runs the served model on one feature vector and remembers it for feedback.</summary>
    public PredictionResult Predict(ReadOnlySpan<float> features) => PredictOwned(features.ToArray());

    /// <summary>
    /// <see cref="Predict(ReadOnlySpan{float})"/> without copying the features: the agent keeps the array (a
    /// prediction awaiting feedback holds it), so the caller must not change it afterwards. The local API hands over
    /// the array it parsed, which saves a copy per request. With <paramref name="sessionId"/>, a streaming classifier's
    /// call starts from the session's state (written into the array's state inputs) and leaves its own for the next.
    /// </summary>
    public PredictionResult PredictOwned(float[] features, string? sessionId = null) => _predictor.Predict(features, sessionId);

    /// <summary>
    /// A regressor's values for one sample (<see cref="Serving.ValuePredictor"/>), remembered for its target; the agent
    /// keeps the array. Throws <see cref="Serving.ModelKindException"/> when the served model is not a regressor.
    /// </summary>
    public Serving.ValuePrediction PredictValues(float[] features, string? sessionId = null) => _values.Predict(features, sessionId);

    /// <summary>A regressor's ground truth for an earlier prediction: false if the id is unknown or expired. Throws <see cref="ArgumentException"/> for a target that does not fit.</summary>
    public bool FeedbackTarget(string predictionId, float[] target)
    {
        if (_values.Problem(target) is { } problem) throw new ArgumentException(problem); // the reason alone: the local API answers it as it is
        if (_deps.Store.Take(predictionId) is not { } prediction) return false;
        if (_values.ErrorAgain(prediction.Features, prediction.ModelVersion, target) is { } error)
        {
            if (prediction.ModelVersion == ModelVersion) _health.RecordTargetFeedback(error); // what a stage gate compares across versions
            _rollouts.Experiment.OutcomeError(predictionId, error); // and an A/B test across its arms
        }

        _rollouts.Shadow.OutcomeTarget(predictionId, target);
        WriteGroundTruth(() => _deps.Store.AddTargets([(prediction.Features, target)], StateVersion(prediction.ModelVersion)));
        return true;
    }

    /// <summary>A regressor's ground truth with its features (no earlier prediction needed).</summary>
    public void FeedbackTarget(float[] features, float[] target) => FeedbackTargets([(features, target)]);

    /// <summary>Many of a regressor's samples with their targets at once, in one transaction.</summary>
    public void FeedbackTargets(IReadOnlyList<(float[] Features, float[] Target)> samples)
    {
        foreach (var (_, target) in samples)
        {
            if (_values.Problem(target) is { } problem) throw new ArgumentException(problem);
        }

        WriteGroundTruth(() => _deps.Store.AddTargets(samples));
    }

    /// <summary>
    /// Runs a model served by tensor names (<see cref="Serving.TensorPredictor"/>); with <paramref name="sessionId"/>
    /// its recurrent state is kept between calls. Throws <see cref="ArgumentException"/> for inputs that do not fit and
    /// <see cref="Serving.ModelKindException"/> when the served model is a classifier.
    /// </summary>
    public Serving.TensorAnswer Infer(IReadOnlyList<EdgeMlOps.Runtime.NamedTensor> inputs, string? sessionId = null) => _tensors.Infer(inputs, sessionId);

    /// <summary>The served model's tensor interface, or null when it is a classifier (or nothing is installed).</summary>
    public EdgeMlOps.Shared.Models.TensorInterface? ServedTensors => _tensors.Served();

    /// <summary>Recurrent sessions held, and how many were dropped (idle or over the cap).</summary>
    public (int Held, long Evicted) RecurrentSessions => (_sessions.Count, _sessions.Evicted);

    /// <summary>Ground truth for an earlier prediction. False if the id is unknown or expired.</summary>
    public bool Feedback(string predictionId, long label)
    {
        if (_deps.Store.Take(predictionId) is not { } prediction) return false;
        _profiler.AddOutcome(prediction.ModelVersion, label, prediction.Label, prediction.Features);

        // Ground-truth accuracy of the served version since it was switched to (a rollout gate).
        if (prediction.ModelVersion == ModelVersion) _health.RecordFeedback(prediction.Label == label);
        _rollouts.Shadow.Outcome(predictionId, label);
        _rollouts.Experiment.Outcome(predictionId, label, prediction.Label);
        WriteGroundTruth(() => _deps.Store.AddSamples([(prediction.Features, label)], StateVersion(prediction.ModelVersion)));
        return true;
    }

    /// <summary>For a streaming model's prediction, the version whose state its row holds; null for any other model.</summary>
    private ulong? StateVersion(ulong answeredBy) => _slots.Served?.Architecture.Graph?.States.Count > 0 ? answeredBy : null;

    /// <summary>Ground truth with its features (no earlier prediction needed).</summary>
    public void Feedback(float[] features, long label) => AddSamples([(features, label)]);

    /// <summary>Why the served model's front end refuses <paramref name="features"/> (values that make a count outside the signed range), or null.</summary>
    public string? SampleRefusal(float[] features) => _predictor.Refusal(features);

    /// <summary>Many labelled samples at once, in one transaction.</summary>
    public void Feedback(IReadOnlyList<(float[] Features, long Label)> samples) => AddSamples(samples);

    private void RequestStatus() => _presence.Request();

    private void SendProfile(ProfileReport report) => _outbox.Send(_topics.Profile(DeviceId), report.ToByteArray());

    private void AddSamples(IReadOnlyList<(float[] Features, long Label)> samples) => WriteGroundTruth(() => _deps.Store.AddSamples(samples));

    /// <summary>Ground truth into the sample store (a full disk reported through storage health), then a fresh status.</summary>
    private void WriteGroundTruth(Action write)
    {
        _storage.Write("ground truth", write);
        RequestStatus();
    }

    /// <summary>Waits until a served model of at least <paramref name="version"/> is installed.</summary>
    public Task WaitForModelAsync(ulong version, CancellationToken cancellationToken) => _slots.WaitForServedAsync(version, cancellationToken);

    /// <summary>Publishes a status message now (birth, refresh after new data).</summary>
    public Task PublishStatusAsync(CancellationToken cancellationToken) => _presence.PublishAsync(DeviceState.Online, cancellationToken);

    /// <summary>Publishes the current monitoring window now (under the row floor, without feature sketches).</summary>
    public void FlushProfile() => _profiler.Flush();

    /// <summary>The device's status, composed from its services (the Last Will is built before the stores are read).</summary>
    private DeviceStatus Status(DeviceState state)
    {
        var latency = _health.Latency;
        var served = _slots.ServedVersion;
        var feedback = _health.Feedback.For(served); // the counts and squared errors together, and only the served version's
        var status = new DeviceStatus
        {
            Header = _headers.Next(),
            State = state,
            AgentVersion = typeof(DeviceAgent).Assembly.GetName().Version?.ToString() ?? "0",
            ExecutionProvider = ExecutionProvider,
            LatencyP50Ms = latency.Quantile(0.50).TotalMilliseconds,
            LatencyP95Ms = latency.Quantile(0.95).TotalMilliseconds,
            LatencyP99Ms = latency.Quantile(0.99).TotalMilliseconds,
            Predictions = (ulong)latency.Count,
            RssBytes = (ulong)Environment.WorkingSet,
            InferenceErrors = (ulong)_health.InferenceErrors,
            FeedbackCorrect = (ulong)feedback.Correct,
            FeedbackCount = (ulong)feedback.Count,
            FeedbackSquaredErrorSum = feedback.SquaredErrorSum,
            FeedbackSquaredErrorSquares = feedback.SquaredErrorSquares,
            RejectedManifests = (ulong)Trust.Rejections,
            LastRejection = Trust.LastRejection,
            SketchesWithheld = (ulong)SketchesWithheld,
            SketchRowsDropped = (ulong)SketchRowsDropped,
            SamplesRefused = (ulong)Interlocked.Read(ref Counters.SamplesRefused),
            Rollout = Rollout,
            Shadow = Shadow,
            Experiment = Experiment,
            StorageNotice = StorageNotice,
            FreshUntilUnixMs = _freshness.Report(_installer.FreshUntilUnixMs),
            StatusIntervalSeconds = (uint)Math.Min(uint.MaxValue, _options.StatusInterval.TotalSeconds),
            ModelName = _slots.Served?.ModelName ?? string.Empty,
            ModelVersion = served,
            ModelNotice = _slots.FullNotice(),
            SampleCount = state == DeviceState.Lost ? 0 : (ulong)_deps.Store.SampleCount,
        };
        foreach (var (key, value) in _options.Tags) status.Tags[key] = value;
        return status;
    }

    /// <summary>Routes a message from the fleet to the service it is for; long work leaves the receive loop at once (a stop waits for it).</summary>
    private Task OnMessageAsync(string topic, ReadOnlySequence<byte> payload)
    {
        if (_work.IsStopping) return Task.CompletedTask;
        if (payload.Length > ProtocolInfo.MaxPayloadBytes)
        {
            Malformed(topic, $"payload of {payload.Length} bytes exceeds the limit");
            return Task.CompletedTask;
        }

        try
        {
            if (_freshness.Watches(topic) && _freshness.Received(topic, payload, _deps.Time.GetUtcNow().ToUnixTimeMilliseconds())) RequestStatus();
            if (topic == _topics.Model)
            {
                _outbox.Wake(); // the aggregator (re)announced: it is connected and listening, so queued messages go now
                _work.Track(_installer.InstallAsync(ModelAnnouncement.Parser.ParseFrom(payload)));
            }
            else if (topic == _topics.Trust)
            {
                // A refused bundle (older, forged) is counted by the gate and reported in the next status.
                if (!Trust.OfferBundle(Signed.Parser.ParseFrom(payload))) RequestStatus();
            }
            else if (topic == _topics.Rollout)
            {
                _rollouts.Receive(Signed.Parser.ParseFrom(payload));
            }
            else if (topic == _topics.Timestamp)
            {
                if (_freshness.Offer(Signed.Parser.ParseFrom(payload), _deps.Time.GetUtcNow().ToUnixTimeMilliseconds())) RequestStatus();
            }
            else if (topic == _topics.Task(DeviceId))
            {
                // Only a task signed by the fleet, for this device, is worked on; anything else is counted and reported.
                if (Trust.CheckTask(Signed.Parser.ParseFrom(payload), _deps.Time.GetUtcNow().ToUnixTimeMilliseconds(), DeviceId) is { } task)
                {
                    _work.Track(_training.RunAsync(task));
                }
                else
                {
                    _training.Refused(Trust.LastRejection);
                    RequestStatus();
                }
            }
        }
        catch (InvalidProtocolBufferException ex)
        {
            Malformed(topic, ex.Message);
        }

        return Task.CompletedTask;
    }

    private void Malformed(string topic, string reason)
    {
        Interlocked.Increment(ref Counters.MalformedMessages);
        _logger.Malformed(topic, reason);
    }
}
