using EdgeMlOps.Aggregator.Broker;
using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Http;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Runtime;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Aggregator;

/// <summary>
/// The fleet side: (optionally) the embedded broker, the model registry and artifact server,
/// device presence, and federated rounds with streaming FedAvg. The host and the simulator
/// both run exactly this.
/// </summary>
public sealed partial class AggregatorNode : IAsyncDisposable
{
    private readonly AggregatorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly IModelEvaluator? _evaluator;
    private readonly Topics _topics;
    private readonly SemaphoreSlim _roundGate = new(1, 1);
    private EmbeddedBroker? _broker;
    private IFleetChannelFactory? _channels;
    private IFleetChannel? _transport;
    private WebApplication? _http;
    private readonly FleetStores _stores;
    private readonly Fleet.FleetPublisher _publisher;
    private readonly Trust.ManifestSigner _signer;
    private GlobalModel _current;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _resignLoop;
    private Task? _rolloutLoop;
    private long _sequence;
    private long _artifactBytesServed;

    /// <param name="options">What to run: fleet, model, rounds, strategy, governance, storage.</param>
    /// <param name="loggerFactory">Where logs go (none by default).</param>
    /// <param name="time">The clock rounds, deadlines and rollouts read (the system clock by default).</param>
    /// <param name="evaluator">Held-out evaluation of every new version, if any.</param>
    /// <param name="channels">
    /// The fleet channel to use instead of MQTT (the simulator's in-memory hub); then no broker is
    /// started and <see cref="AggregatorOptions.ExternalBroker"/> is not used.
    /// </param>
    public AggregatorNode(AggregatorOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? time = null, IModelEvaluator? evaluator = null, IFleetChannelFactory? channels = null)
    {
        _channels = channels;
        _options = options;
        _time = time ?? TimeProvider.System;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<AggregatorNode>();
        _evaluator = evaluator;
        _topics = new Topics(options.Fleet);
        Devices = new DeviceDirectory(_time);

        // Composed here, not at start: every service exists (and every store is open) for the node's whole life.
        _stores = new FleetStores(options, _time, _loggerFactory);
        _publisher = new Fleet.FleetPublisher(_time);
        _signer = new Trust.ManifestSigner(options, _stores.Keys, _time);
        Rollouts = new Rollouts.RolloutManager(options, _stores, Devices, _signer, _publisher, () => ArtifactBaseUrl, _time, _loggerFactory.CreateLogger<Rollouts.RolloutManager>());
        try
        {
            _current = LoadOrCreateModel();
            Monitor = OpenMonitor();
            Strategy = StandardStrategy.Create(_options.Strategy);
        }
        catch
        {
            _stores.Dispose(); // a registry for another model, a missing artifact, a bad strategy: nothing stays open
            throw;
        }

        if (Registry.LoadStrategyState(_options.ModelName, _current.Record.Version) is { } state && !Strategy.RestoreState(state, _current.Weights.Layout.TotalLength))
        {
            LogStrategyStateDiscarded(_current.Record.Version);
        }

        LogStrategy(Strategy.Describe());
    }

    public AggregatorOptions Options => _options;

    public DeviceDirectory Devices { get; }

    public RejectionCounters Rejections { get; } = new();

    /// <summary>The broker devices should connect to.</summary>
    public MqttEndpoint BrokerEndpoint { get; private set; } = new("localhost", 1883);

    /// <summary>Opens channels to the broker this aggregator uses (available after start): what devices in the same process connect with.</summary>
    public IFleetChannelFactory Channels => _channels ?? throw new InvalidOperationException("Not started.");

    /// <summary>Base URL of the artifact server as announced to devices.</summary>
    public Uri ArtifactBaseUrl { get; private set; } = new(AggregatorOptions.DefaultHttpUrl);

    public EmbeddedBroker? Broker => _broker;

    /// <summary>Device CA, enrollment, broker guard and security events.</summary>
    public Security.FleetSecurity Security => _stores.Security;

    /// <summary>True while the aggregator's own MQTT connection is up.</summary>
    public bool IsBrokerConnected => _publisher.IsConnected;

    public ModelRegistry Registry => _stores.Registry;

    /// <summary>Message ids already processed, per device, across restarts.</summary>
    public Fleet.SeenMessages Seen => _stores.Seen;

    public ArtifactStore Artifacts => _stores.Artifacts;

    /// <summary>The current global version.</summary>
    public ModelVersionRecord CurrentVersion => _current.Record;

    public ModelWeights CurrentWeights => _current.Weights;

    /// <summary>The federated strategy rounds run with (from <see cref="AggregatorOptions.Strategy"/>).</summary>
    public FederatedStrategy Strategy { get; }

    /// <summary>Artifact bytes served over HTTP since start.</summary>
    public long ArtifactBytesServed => Interlocked.Read(ref _artifactBytesServed);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        StartMonitoring();

        if (_channels is not null)
        {
            // In-process channel: no broker, no sockets for device traffic.
        }
        else if (_options.ExternalBroker is { } external)
        {
            if (!external.Tls && !_options.Security.AllowPlaintext)
            {
                throw new InvalidOperationException($"Broker {external} is plain TCP: use mqtts:// with a broker that requires fleet client certificates, or set Security:AllowPlaintext=true for development.");
            }

            if (!external.Tls) LogInsecureBroker(external.ToString());
            BrokerEndpoint = external;
        }
        else
        {
            var tls = _options.Security.AllowPlaintext ? null : Security.BrokerTls([_options.BrokerBindAddress.ToString()]);
            _broker = new EmbeddedBroker(_options.EmbeddedBrokerPort, _options.BrokerBindAddress, _loggerFactory.CreateLogger<EmbeddedBroker>(), tls);
            await _broker.StartAsync().ConfigureAwait(false);
            var any = _options.BrokerBindAddress.Equals(System.Net.IPAddress.Any) || _options.BrokerBindAddress.Equals(System.Net.IPAddress.IPv6Any);
            BrokerEndpoint = new MqttEndpoint(any ? "127.0.0.1" : _options.BrokerBindAddress.ToString(), _broker.Port, Tls: tls is not null);
        }

        var https = _options.HttpUrl.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
            ? Security.ServerCertificate([new Uri(_options.HttpUrl).Host, .. _options.PublicBaseUrl is { } p ? new[] { p.Host } : []])
            : null;
        if (https is null) LogInsecureApi(_options.HttpUrl);
        _http = AggregatorApi.Build(this, _options.HttpUrl, https, _loggerFactory, bytes => Interlocked.Add(ref _artifactBytesServed, bytes));
        await _http.StartAsync(cancellationToken).ConfigureAwait(false);
        var bound = new Uri(_http.Urls.First());
        ArtifactBaseUrl = _options.PublicBaseUrl ?? bound;

        _channels ??= new MqttChannelFactory(BrokerEndpoint, BrokerEndpoint.Tls ? Security.ClientTls : null);
        _transport = _channels.Create(new FleetChannelOptions($"aggregator-{_options.Fleet}"), _loggerFactory);
        _transport.MessageReceived = OnMessageAsync;
        await _transport.SubscribeAsync([_topics.AllDevices("status"), _topics.AllDevices("update"), _topics.AllDevices("eval"), _topics.AllDevices("profile"), _topics.Model, _topics.Rollout, _topics.Trust], cancellationToken).ConfigureAwait(false);
        await _transport.ConnectAsync(cancellationToken).ConfigureAwait(false);
        _publisher.Attach(_transport);
        await PublishTrustAsync(cancellationToken).ConfigureAwait(false);
        await AnnounceAsync(_current, cancellationToken).ConfigureAwait(false);
        await RestoreRolloutAsync(cancellationToken).ConfigureAwait(false);
        _resignLoop = Task.Run(ResignLoopAsync, CancellationToken.None);
        LogStarted(_options.Fleet, _options.ModelName, _current.Record.Version, _channels.Address, ArtifactBaseUrl.ToString());
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        if (_resignLoop is not null) await _resignLoop.ConfigureAwait(false);
        if (_rolloutLoop is not null) await _rolloutLoop.ConfigureAwait(false);
        if (_driftLoop is not null) await _driftLoop.ConfigureAwait(false);
        if (Webhook is not null) await Webhook.DisposeAsync().ConfigureAwait(false);
        if (_transport is not null) await _transport.DisposeAsync().ConfigureAwait(false);
        if (_http is not null)
        {
            await _http.StopAsync().ConfigureAwait(false);
            await _http.DisposeAsync().ConfigureAwait(false);
        }

        if (_broker is not null) await _broker.DisposeAsync().ConfigureAwait(false);
        _stores.Dispose();
        _roundGate.Dispose();
        _stopping.Dispose();
    }

    /// <summary>Resumes from the registry's latest version, or creates version 1 from seeded initial weights.</summary>
    private GlobalModel LoadOrCreateModel()
    {
        var registry = Registry;
        var specText = _options.Model.ToString();
        var existing = registry.GetModelSpec(_options.ModelName);
        if (existing is null)
        {
            registry.AddModel(_options.ModelName, specText, _time.GetUtcNow());
        }
        else if (existing != specText)
        {
            throw new InvalidOperationException($"Registry holds model '{_options.ModelName}' as {existing}; configuration asks for {specText}.");
        }

        if (registry.Latest(_options.ModelName) is { } latest)
        {
            var weights = ClassifierGraphs.ReadWeights(ClassifierGraphs.Parse(Artifacts.Read(latest.InferenceSha256)));
            _ = Artifacts.TryGetPath(latest.TrainStepSha256) ?? throw new InvalidOperationException($"Train-step artifact {latest.TrainStepSha256} is missing.");
            LogResumed(_options.ModelName, latest.Version, registry.LastRound(_options.ModelName));
            return new GlobalModel(latest, weights);
        }

        var initial = ModelWeights.Initialize(_options.Model, _options.Seed);
        return RegisterVersion(initial, parent: 0, round: 0, contributors: 0, samples: 0, trainLoss: null);
    }

    /// <summary>Stores both artifacts, evaluates (if configured) and records a new version.</summary>
    private GlobalModel RegisterVersion(ModelWeights weights, ulong parent, long round, int contributors, long samples, double? trainLoss, string? createdBy = null, string? reason = null)
    {
        var version = parent + 1;
        var metadata = new Dictionary<string, string>
        {
            ["edgemlops.model"] = _options.ModelName,
            ["edgemlops.version"] = version.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var inferenceBytes = ClassifierGraphs.BuildInference(weights, metadata).ToByteArray();
        var trainBytes = ClassifierGraphs.BuildTrainStep(weights.Spec).ToByteArray();
        var inferenceSha = Artifacts.Put(inferenceBytes);
        var trainSha = Artifacts.Put(trainBytes);
        double? accuracy = null, loss = null;
        if (_evaluator is not null)
        {
            using var model = InferenceModel.Load(inferenceBytes);
            var score = _evaluator.Evaluate(model);
            (accuracy, loss) = (score.Accuracy, score.Loss);
        }

        var record = new ModelVersionRecord(
            _options.ModelName, version, parent, round, contributors, samples,
            inferenceSha, inferenceBytes.Length, trainSha, trainBytes.Length,
            accuracy, loss, trainLoss is { } t && double.IsFinite(t) ? t : null, _time.GetUtcNow())
        {
            State = VersionStates.Candidate,
            CreatedBy = createdBy ?? _options.Governance.TrainingIdentity,
        };
        Registry.AddVersion(record);
        Audit.Append(_time.GetUtcNow(), record.CreatedBy, "version.create", EdgeMlOps.Aggregator.Governance.ModelGovernance.Subject(record),
            reason ?? (round == 0 ? "initial weights" : FormattableString.Invariant($"round {round}: {contributors} devices, {samples} samples")), null, record.State);
        return new GlobalModel(Govern(record, inferenceBytes), weights);
    }

    /// <summary>
    /// Publishes the retained announcement of the training head: its signed manifest and the trust
    /// bundle. Devices serve it only when it is deployed in auto mode; otherwise it is for training.
    /// </summary>
    private async Task AnnounceAsync(GlobalModel model, CancellationToken cancellationToken)
    {
        var trainingOnly = _options.Governance.Mode == EdgeMlOps.Aggregator.Governance.DeploymentMode.Governed || Registry.Version(model.Record.Model, model.Record.Version)?.State != VersionStates.Deployed;
        var (manifest, envelope) = _signer.Sign(model.Record, trainingOnly);
        var announcement = Shared.Trust.ManifestRules.ToAnnouncement(manifest, envelope, ArtifactBaseUrl.ToString());
        announcement.Header = NewHeader();
        announcement.Trust = Keys.BundleEnvelope;
        await _publisher.PublishRetainedAsync(_topics.Model, announcement.ToByteArray(), cancellationToken).ConfigureAwait(false);
    }

    private Header NewHeader() =>
        ProtocolInfo.NewHeader(_options.Fleet, $"aggregator-{_options.Fleet}", (ulong)Interlocked.Increment(ref _sequence), _time.GetUtcNow().ToUnixTimeMilliseconds());

    private sealed record GlobalModel(ModelVersionRecord Record, ModelWeights Weights);
}
