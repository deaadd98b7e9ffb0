using EdgeMlOps.Aggregator.Broker;
using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Http;
using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Aggregator;

/// <summary>
/// The fleet side, composed: stores (<see cref="FleetStores"/>), the model repository, monitoring
/// (<see cref="DriftWatch"/>), rollouts, round coordinators (synchronous, buffered, evaluation) over what is open
/// (<see cref="OpenRounds"/>), the inbox every device message enters, the announcer of signed statements — plus, at
/// start, the embedded broker (unless external or in-memory), the HTTP API and the fleet channel. The host and the
/// simulator both run exactly this; each service has one job and takes what it uses.
/// </summary>
public sealed class AggregatorNode : IAsyncDisposable
{
    private readonly AggregatorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly FleetStores _stores;
    private readonly FleetPublisher _publisher;
    private readonly ModelRepository _models;
    private readonly OpenRounds _open;
    private readonly FleetAnnouncer _announcer;
    private readonly FleetInbox _inbox;
    private readonly RoundCoordinator _rounds;
    private readonly BufferedRounds _buffered;
    private readonly FederatedEvaluationRunner _evaluation;
    private readonly VersionUploads _uploads;
    private readonly DeviceRevocation _revocation;
    private readonly FleetTraffic _traffic = new();
    private readonly List<Task> _loops = new();
    private IFleetChannelFactory? _channels;
    private IFleetChannel? _transport;
    private WebApplication? _http;

    /// <param name="options">What to run: fleet, model, rounds, strategy, governance, storage.</param>
    /// <param name="loggerFactory">Where logs go (none by default).</param>
    /// <param name="time">The clock rounds, deadlines and rollouts read (the system clock by default).</param>
    /// <param name="evaluator">Held-out evaluation of every new version, if any.</param>
    /// <param name="channels">
    /// The fleet channel to use instead of MQTT (the simulator's in-memory hub, or a model line's connection to the
    /// fleet's broker); then no broker is started and <see cref="AggregatorOptions.ExternalBroker"/> is not used.
    /// </param>
    /// <param name="fleetSecurity">For a model line (<see cref="AggregatorOptions.Line"/>): the fleet's device CA and identities.</param>
    public AggregatorNode(AggregatorOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? time = null, IModelEvaluator? evaluator = null, IFleetChannelFactory? channels = null, FleetSecurity? fleetSecurity = null)
    {
        options.Validate(); // options built in code pass the same rules as configuration
        if (options.Line is not null && (channels is null || fleetSecurity is null))
        {
            throw new ArgumentException($"Model line '{options.Line}' runs on its fleet's broker and device CA: pass both (see Lines.ModelLineHost)", nameof(options));
        }

        ProbeUploadedModel(options);
        _channels = channels;
        _options = options;
        _time = time ?? TimeProvider.System;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<AggregatorNode>();
        Devices = new DeviceDirectory(_time);
        _open = new OpenRounds(new RoundTurnout(1 / options.Rounds.OverSelection), _time);

        // Composed here, not at start: every service exists (and every store is open) for the node's whole life.
        _stores = new FleetStores(options, _time, _loggerFactory, fleetSecurity);
        try
        {
            if (options.ModelSource?.Preprocess is { } preprocess) _stores.Artifacts.Put(preprocess); // devices fetch it by the sha256 the signed interface pins
            Runs = new Tracking.AggregatorRunRecorder(options, _stores.Registry, _stores.Artifacts, _time);
            Explainer = new Explanations.VersionExplainer(_stores.Registry, _stores.Artifacts, options.Model, evaluator, options.Governance.Explain, _time);
            _models = new ModelRepository(options, _stores, evaluator, Explainer, _time, _logger);
            Strategy = StandardStrategy.Create(options.Strategy);
        }
        catch
        {
            _stores.Dispose(); // a registry for another model, a missing artifact, a bad strategy: nothing stays open
            throw;
        }

        var head = _models.Head;
        if (Registry.LoadStrategyState(options.ModelName, head.Record.Version) is { } state && !Strategy.RestoreState(state, head.Weights.Layout.TotalLength))
        {
            _logger.LogStrategyStateDiscarded(head.Record.Version);
        }

        _logger.LogStrategy(Strategy.Describe());
        _publisher = new FleetPublisher(_time, new FleetTimestamps(options.Topics, _stores.Keys, options.Trust.TimestampLifetime, _stores.Issued));
        var headers = new AggregatorHeaders(options.ProtocolFleet, _time);
        Signer = new Trust.ManifestSigner(options, _stores.Keys, _time);
        Rollouts = new Rollouts.RolloutManager(options, _stores, Devices, Signer, _publisher, () => ArtifactBaseUrl, _time, _loggerFactory.CreateLogger<Rollouts.RolloutManager>());
        Drift = new DriftWatch(options, _stores, _models, Devices, _publisher, _time, _stopping.Token, _logger);
        Lines = new Lines.FleetLines(options);
        _announcer = new FleetAnnouncer(options, _stores, _models, Signer, _publisher, Rollouts, headers, () => ArtifactBaseUrl, _time, _logger, Lines);
        if (options.Line is null) Lines.Changed = _announcer.PublishCatalogueAsync;
        var committer = new VersionCommitter(options, _models, Strategy, Drift, _stores, _announcer, new ArtifactRetention(options, _stores.Registry, _stores.Artifacts, _stores.Audit, _time, _loggerFactory.CreateLogger<ArtifactRetention>()));
        var tasks = new TaskDispatcher(options, headers, _stores.Keys, _publisher);
        _rounds = new RoundCoordinator(options, _models, Strategy, Devices, _stores, Drift, Rejections, _open, tasks, committer, _time, _logger);
        _buffered = new BufferedRounds(options, _models, Strategy, Devices, _stores, Rejections, _open, tasks, committer, _time, _logger);
        _evaluation = new FederatedEvaluationRunner(options, _models, Strategy, Devices, _open, tasks, Explainer, Drift.Monitor.Reference, _time);
        _inbox = new FleetInbox(options, Devices, _open, Drift, _publisher, _stores, Rejections, _time, _stopping.Token, _logger);
        _uploads = new VersionUploads(options, _stores.Registry, _open, committer);
        SilentDevices = new SilentDevices(options.Devices, Devices, _publisher, options.Topics, _time, _logger);
        _revocation = new DeviceRevocation(_stores.Security, Devices, _open, _stores.Audit, _announcer, _publisher, options.Topics, _time);
        var validation = new Pipeline.CandidateValidation(options, _stores.Artifacts, evaluator, Explainer, Drift, _evaluation);
        Pipeline = new Pipeline.RetrainingPipeline(options, _stores, _models, _uploads, Rollouts, Drift, validation, RunRoundAsync, _time, _logger);
        Drift.Retrain = RunRoundAsync;
    }

    public AggregatorOptions Options => _options;

    /// <summary>The aggregator's logger (what the HTTP API logs failures to).</summary>
    internal ILogger Logger => _logger;

    internal TimeProvider Time => _time;

    public DeviceDirectory Devices { get; }

    /// <summary>Forgets devices no longer heard from (<c>Devices:ForgetAfterDays</c>), and their retained statuses.</summary>
    public SilentDevices SilentDevices { get; }

    /// <summary>Explanations of registered versions on the held-out data (model cards, the explainability gate).</summary>
    public Explanations.VersionExplainer Explainer { get; }

    public RejectionCounters Rejections { get; } = new();

    /// <summary>What each edge gateway delivered (partials merged and refused, by reason).</summary>
    public Edge.GatewayLedger Gateways => _inbox.Gateways;

    /// <summary>The broker devices should connect to.</summary>
    public MqttEndpoint BrokerEndpoint { get; private set; } = new("localhost", 1883);

    /// <summary>
    /// Opens channels to the broker this aggregator uses: what devices in the same process connect with. With MQTT it
    /// exists once <see cref="StartAsync"/> has the broker listening (its port may be chosen by the OS).
    /// </summary>
    public IFleetChannelFactory Channels => _channels ?? throw new InvalidOperationException("The broker's address is known once the aggregator has started (StartAsync).");

    /// <summary>
    /// Channels to this aggregator's broker for another aggregator identity of the fleet (a model line's): over MQTT with
    /// TLS with a certificate of that name, so a broker that takes the certificate's name as the client id (Mosquitto)
    /// gives each its own session; an in-process channel or a plaintext broker as they are.
    /// </summary>
    public IFleetChannelFactory ChannelsAs(string aggregatorIdentity) =>
        Channels is MqttChannelFactory { Endpoint.Tls: true } mqtt ? new MqttChannelFactory(mqtt.Endpoint, Security.ClientTlsAs(aggregatorIdentity)) : Channels;

    /// <summary>The fleet's model lines as they stand (configured, and added at run time through the admin API); none on a line's own node.</summary>
    public Lines.FleetLines Lines { get; }

    /// <summary>Base URL of the artifact server as announced to devices.</summary>
    public Uri ArtifactBaseUrl { get; private set; } = new(AggregatorOptions.DefaultHttpUrl);

    public EmbeddedBroker? Broker => _traffic.Broker;

    /// <summary>True while the aggregator's own MQTT connection is up.</summary>
    public bool IsBrokerConnected => _publisher.IsConnected;

    /// <summary>Device CA, enrollment, broker guard and security events.</summary>
    public Security.FleetSecurity Security => _stores.Security;

    public ModelRegistry Registry => _stores.Registry;

    /// <summary>Every store, and what opening them repaired.</summary>
    public FleetStores Stores => _stores;

    /// <summary>Message ids already processed, per device, across restarts.</summary>
    public SeenMessages Seen => _stores.Seen;

    public ArtifactStore Artifacts => _stores.Artifacts;

    /// <summary>Root and signing keys; the root public key is what devices pin.</summary>
    public Trust.KeyRing Keys => _stores.Keys;

    public ModelGovernance Governance => _stores.Governance;

    public AuditLog Audit => _stores.Audit;

    /// <summary>Signs registered versions into the manifests devices verify.</summary>
    public Trust.ManifestSigner Signer { get; }

    /// <summary>The automated retraining pipeline (<c>Aggregator:Pipeline</c>): triggers, rounds, gates, approvals, rollout.</summary>
    public Pipeline.RetrainingPipeline Pipeline { get; }

    /// <summary>Staged rollouts of this fleet's model.</summary>
    public Rollouts.RolloutManager Rollouts { get; }

    /// <summary>Fleet monitoring: profiles, references, drift tests and alerts.</summary>
    public DriftWatch Drift { get; }

    /// <summary>Device window profiles merged by version, cohort and window; reference profiles; drift tests.</summary>
    public FleetMonitor Monitor => Drift.Monitor;

    public long ProfilesAccepted => Drift.ProfilesAccepted;

    public long DriftAlerts => Drift.Alerts;

    /// <summary>The drift reports of the most recent evaluated windows (newest last).</summary>
    public IReadOnlyList<DriftReport> RecentDrift => Drift.Recent;

    /// <summary>The drift-alert webhook, when <c>Monitoring:AlertWebhook</c> is set.</summary>
    public AlertWebhook? Webhook => Drift.Webhook;

    /// <summary>The training head: the version rounds train on.</summary>
    public ModelVersionRecord CurrentVersion => _models.Head.Record;

    public ModelWeights CurrentWeights => _models.Head.Weights;

    /// <summary>The version devices are meant to serve (the latest deployed), or null if none yet.</summary>
    public ModelVersionRecord? DeployedVersion => _models.Deployed;

    /// <summary>The federated strategy rounds run with (from <see cref="AggregatorOptions.Strategy"/>).</summary>
    public FederatedStrategy Strategy { get; }

    /// <summary>Artifact bytes served over HTTP since start.</summary>
    public long ArtifactBytesServed => _traffic.ArtifactBytesServed;

    /// <summary>Starts the broker (unless external or in-memory) and the HTTP API, connects, and publishes the fleet's signed statements.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await StartBrokerAsync().ConfigureAwait(false);
        var https = _options.HttpUrl.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
            ? Security.ServerCertificate([new Uri(_options.HttpUrl).Host, .. _options.PublicBaseUrl is { } p ? new[] { p.Host } : []])
            : null;
        if (https is null) _logger.LogInsecureApi(_options.HttpUrl);
        _http = AggregatorApi.Build(RegisterServices, _options.HttpUrl, https, _loggerFactory);
        try
        {
            await _http.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (PortInUseException.IsAddressInUse(ex))
        {
            throw PortInUseException.ForHttpUrl(_options, ex);
        }

        ArtifactBaseUrl = _options.PublicBaseUrl ?? new Uri(_http.Urls.First());

        _channels ??= new MqttChannelFactory(BrokerEndpoint, BrokerEndpoint.Tls ? Security.ClientTls : null);
        _transport = _channels.Create(new FleetChannelOptions(_options.Line is { } line ? $"aggregator-{_options.Fleet}-line-{line}" : $"aggregator-{_options.Fleet}"), _loggerFactory);
        _transport.MessageReceived = _inbox.OnMessageAsync;
        _transport.Connected = OnConnectedAsync;
        _publisher.Attach(_transport);
        await _transport.SubscribeAsync(_inbox.Subscriptions, cancellationToken).ConfigureAwait(false);
        try
        {
            // An external broker started beside this aggregator is waited for; the embedded one has just started.
            var wait = _options.ExternalBroker is null ? TimeSpan.Zero : TimeSpan.FromSeconds(_options.BrokerStartupWaitSeconds);
            await EdgeMlOps.Aggregator.Broker.BrokerStartupWait.ConnectAsync(_transport, wait, _options.ExternalBroker?.ToString() ?? "embedded", _logger, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            throw EdgeMlOps.Aggregator.Broker.BrokerUnreachableException.AtStart(_options, ex);
        }

        await _transport.UnsubscribeAsync(_inbox.StaleSubscriptions, cancellationToken).ConfigureAwait(false);
        await _announcer.PublishTrustAsync(cancellationToken).ConfigureAwait(false);
        await _announcer.AnnounceAsync(_models.Head, cancellationToken).ConfigureAwait(false);
        await Rollouts.RestoreAsync(cancellationToken).ConfigureAwait(false);
        foreach (var loop in new Func<CancellationToken, Task>[] { Drift.RunAsync, _announcer.RunAsync, _announcer.RunTimestampsAsync, Rollouts.RunAsync, Pipeline.RunAsync, SilentDevices.RunAsync })
        {
            _loops.Add(Task.Run(() => loop(_stopping.Token), CancellationToken.None));
        }

        _logger.LogStarted(_options.ProtocolFleet, _options.ModelName, _models.Head.Record.Version, _channels.Address, ArtifactBaseUrl.ToString(), _options.Store.Describe(_options.DataDirectory));
    }

    /// <summary>After every (re)connection: the broker may have come back without its retained messages, so the fleet's signed statements go back.</summary>
    private async Task OnConnectedAsync(bool sessionPresent)
    {
        var restored = await _publisher.RestoreRetainedAsync(_stopping.Token).ConfigureAwait(false);
        if (restored > 0) _logger.LogRetainedRestored(restored, sessionPresent);
    }

    /// <summary>The embedded broker (TLS with fleet client certificates unless plaintext is allowed), or the external one checked.</summary>
    private async Task StartBrokerAsync()
    {
        if (_channels is not null) return; // in-process channel: no broker, no sockets for device traffic
        if (_options.ExternalBroker is { } external)
        {
            if (!external.Tls && !_options.Security.AllowPlaintext)
            {
                throw new InvalidOperationException($"Broker {external} is plain TCP: use mqtts:// with a broker that requires fleet client certificates, or set Security:AllowPlaintext=true for development.");
            }

            if (!external.Tls) _logger.LogInsecureBroker(external.ToString());
            BrokerEndpoint = external;
            return;
        }

        var tls = _options.Security.AllowPlaintext ? null : Security.BrokerTls([_options.BrokerBindAddress.ToString()]);
        var broker = new EmbeddedBroker(_options.EmbeddedBrokerPort, _options.BrokerBindAddress, _loggerFactory.CreateLogger<EmbeddedBroker>(), tls);
        _traffic.Broker = broker;
        Security.Broker = broker; // a model line's revocation drops the device from here too
        try
        {
            await broker.StartAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (PortInUseException.IsAddressInUse(ex))
        {
            throw new PortInUseException($"Aggregator:EmbeddedBrokerPort: {_options.BrokerBindAddress}:{_options.EmbeddedBrokerPort} is already in use (another aggregator, or a broker listening there?); give this one its own --Aggregator:EmbeddedBrokerPort=PORT, or use that broker with --Aggregator:Broker=mqtts://HOST:PORT", ex);
        }

        var any = _options.BrokerBindAddress.Equals(System.Net.IPAddress.Any) || _options.BrokerBindAddress.Equals(System.Net.IPAddress.IPv6Any);
        BrokerEndpoint = new MqttEndpoint(any ? "127.0.0.1" : _options.BrokerBindAddress.ToString(), broker.Port, Tls: tls is not null);
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        await Task.WhenAll(_loops).ConfigureAwait(false);
        if (Webhook is not null) await Webhook.DisposeAsync().ConfigureAwait(false);
        if (_transport is not null) await _transport.DisposeAsync().ConfigureAwait(false);
        if (_http is not null)
        {
            await _http.StopAsync().ConfigureAwait(false);
            await _http.DisposeAsync().ConfigureAwait(false);
        }

        if (Broker is not null) await Broker.DisposeAsync().ConfigureAwait(false);
        _stores.Dispose();
        _open.Dispose();
        _stopping.Dispose();
    }

    /// <summary>With replicas, those connected but starved of updates (see <see cref="Replicas.ReplicaWatch"/>).</summary>
    public Replicas.ReplicaWatch Replicas => _rounds.Replicas;

    /// <summary>Runs one synchronous round (see <see cref="RoundCoordinator"/>).</summary>
    public async Task<RoundReport> RunRoundAsync(CancellationToken cancellationToken)
    {
        var report = await _rounds.RunAsync(cancellationToken).ConfigureAwait(false);
        Runs.Round(report);
        return report;
    }

    /// <summary>This process's training run, recorded in <c>DataDirectory/experiments/</c> after every round.</summary>
    public Tracking.AggregatorRunRecorder Runs { get; }

    /// <summary>Runs rounds until <see cref="RoundOptions.MaxRounds"/> (0 = forever) or cancellation; in buffered mode, FedBuff versions.</summary>
    public async Task RunRoundsAsync(CancellationToken cancellationToken)
    {
        var rounds = _options.Rounds;
        if (rounds.Mode == RoundMode.Buffered)
        {
            await RunBufferedAsync(rounds.MaxRounds == 0 ? int.MaxValue : rounds.MaxRounds, cancellationToken).ConfigureAwait(false);
            return;
        }

        for (var completed = 0; rounds.MaxRounds == 0 || completed < rounds.MaxRounds;)
        {
            if (Pipeline.Policy.Enabled)
            {
                // The retraining pipeline's policy (configuration or registry) is enabled: rounds run when its triggers say so.
                await Task.Delay(rounds.Interval, _time, cancellationToken).ConfigureAwait(false);
                continue;
            }

            var report = await RunRoundAsync(cancellationToken).ConfigureAwait(false);
            if (report.Status == RoundStatus.Stopped) return;
            if (report.Status != RoundStatus.NotStarted) completed++;
            await Task.Delay(rounds.Interval, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Buffered asynchronous aggregation (see <see cref="BufferedRounds"/>); one report per published version.</summary>
    public async Task<IReadOnlyList<RoundReport>> RunBufferedAsync(int versions, CancellationToken cancellationToken)
    {
        var reports = await _buffered.RunAsync(versions, cancellationToken).ConfigureAwait(false);
        foreach (var report in reports) Runs.Round(report);
        return reports;
    }

    /// <summary>Scores the training head on up to <paramref name="devices"/> devices' own data (see <see cref="FederatedEvaluationRunner"/>).</summary>
    public Task<FederatedEvaluationReport> RunFederatedEvaluationAsync(int devices, CancellationToken cancellationToken, IReadOnlyList<int>? importanceInputs = null, IReadOnlyList<int>? dependenceInputs = null) =>
        _evaluation.RunAsync(devices, cancellationToken, importanceInputs, dependenceInputs);

    /// <summary>Tests a monitoring window for drift now (see <see cref="DriftWatch.EvaluateAsync"/>).</summary>
    public Task<IReadOnlyList<DriftReport>> EvaluateDriftAsync(long window, CancellationToken cancellationToken) => Drift.EvaluateAsync(window, cancellationToken);

    /// <summary>The manifest of a registered version, signed now by the active signing key.</summary>
    public (ModelManifest Manifest, Signed Envelope) SignManifest(ModelVersionRecord record, bool trainingOnly = false) => Signer.Sign(record, trainingOnly);

    /// <summary>Announces the training head and the active rollout plan again, freshly signed.</summary>
    public Task RepublishAsync(CancellationToken cancellationToken) => _announcer.RepublishAsync(cancellationToken);

    /// <summary>Certifies a new signing key (optionally revoking the old), audits it, and re-signs what devices see.</summary>
    public Task<string> RotateSigningKeyAsync(string actor, bool revokeOld, string reason, CancellationToken cancellationToken) =>
        _announcer.RotateSigningKeyAsync(actor, revokeOld, reason, cancellationToken);

    /// <summary>Revokes a device's identity at once (connection dropped, no reconnection, no new certificate) and audits it.</summary>
    public Task RevokeDeviceAsync(string deviceId, string reason, string actor) => _revocation.RevokeAsync(deviceId, reason, actor);

    /// <summary>
    /// Registers a version trained elsewhere (a data scientist's upload) as the next version: it becomes the training
    /// head, goes through the same gates, and records <paramref name="createdBy"/> as its creator, who can then never approve it.
    /// </summary>
    public Task<ModelVersionRecord> RegisterVersionAsync(ModelWeights weights, string createdBy, string reason, CancellationToken cancellationToken) =>
        _uploads.RegisterAsync(weights, createdBy, reason, cancellationToken);

    /// <summary>A new file for a model the fleet serves without training, admitted by <see cref="EdgeMlOps.Aggregator.Registry.FileVersions"/>, as the next version.</summary>
    public Task<ModelVersionRecord> RegisterFileAsync(byte[] file, string createdBy, string reason, CancellationToken cancellationToken) =>
        _uploads.RegisterAsync(EdgeMlOps.Aggregator.Registry.FileVersions.Admit(_options.ModelSource ?? throw new InvalidOperationException("the fleet's model is not an uploaded file"), file), createdBy, reason, cancellationToken, file);

    /// <summary>An uploaded model runs here in ONNX Runtime (inference and one train step) before any device gets it.</summary>
    private static void ProbeUploadedModel(AggregatorOptions options)
    {
        if (options.ModelSource is not { } source) return;
        try
        {
            EdgeMlOps.Aggregator.Registry.UploadedModelProbe.Run(source);
        }
        catch (InvalidDataException ex)
        {
            throw new EdgeMlOps.Shared.Configuration.OptionsValidationException("aggregator", [$"{AggregatorOptions.Section}:Model: the file {source.Spec.Graph!.SourceSha256[..12]}… cannot be the fleet's model: {ex.Message}"]);
        }
    }

    /// <summary>The composition root's services, for the HTTP endpoints to take what they use.</summary>
    private void RegisterServices(IServiceCollection services)
    {
        services.AddSingleton(_options);
        services.AddSingleton(Lines);
        services.AddSingleton(_time);
        services.AddSingleton(_stores);
        services.AddSingleton(_stores.Registry);
        services.AddSingleton(_stores.Artifacts);
        services.AddSingleton(_stores.Security);
        services.AddSingleton(_stores.Keys);
        services.AddSingleton(_stores.Governance);
        services.AddSingleton(_stores.Audit);
        services.AddSingleton(_models);
        services.AddSingleton(Explainer);
        services.AddSingleton(_evaluation);
        services.AddSingleton(Devices);
        services.AddSingleton(SilentDevices);
        services.AddSingleton(Rejections);
        services.AddSingleton(Strategy);
        services.AddSingleton(Rollouts);
        services.AddSingleton(Drift);
        services.AddSingleton(_publisher);
        services.AddSingleton(_traffic);
        services.AddSingleton(_announcer);
        services.AddSingleton(_uploads);
        services.AddSingleton(_revocation);
        services.AddSingleton(Pipeline);
        services.AddSingleton(Gateways);
        services.AddSingleton(_rounds.Replicas);
    }
}
