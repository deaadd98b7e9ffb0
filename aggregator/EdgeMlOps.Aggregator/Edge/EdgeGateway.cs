using System.Buffers;
using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Aggregator.Storage;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Edge;

/// <summary>
/// An edge gateway (docs/SCALING.md, "Edge tier"): the aggregator's code in the edge role, between a site's broker and
/// the fleet's. Down, it relays the fleet's signed retained statements (model, rollout, trust, timestamp) and the signed
/// tasks of the site's devices as they are — devices verify them as ever; the gateway verifies each task itself before
/// it acts on it. Up, it relays the devices' statuses, evaluations and profiles, and instead of one update per device
/// sends one partial aggregate per round (<see cref="SiteRounds"/>). What cannot go up is kept
/// (<see cref="UpstreamSender"/>) and sent when the fleet's broker is back: the site keeps training and serving offline.
/// A gateway of gateways (a region) is the same code with site gateways below it: they connect to its site's broker as
/// to the fleet's, it relays the fleet's revocation list down to them, and folds their partials whole into its own.
/// The fleet's model lines pass through it too (<see cref="GatewayLines"/>): their statements and tasks down, their
/// messages up as the devices sent them.
/// </summary>
public sealed class EdgeGateway : IAsyncDisposable
{
    private readonly Topics _topics;
    private readonly EdgeOptions _edge;
    private readonly IFleetChannel _upstream;
    private readonly IFleetChannel _site;
    private readonly SiteRounds _rounds;
    private readonly GatewayTrust _trust;
    private readonly GatewayLines _lines;
    private readonly UpstreamSender _sender;
    private readonly StoreDatabases _databases;
    private readonly SeenMessages _seen;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task _pump = Task.CompletedTask;
    private int _disposed;

    /// <summary>
    /// Gateway <paramref name="gatewayId"/> of <paramref name="options"/>' fleet (its data directory holds the gateway's own
    /// store): <paramref name="upstream"/> reaches the fleet's broker, <paramref name="site"/> the site's; tasks are
    /// verified against <paramref name="rootPublicKey"/>, the fleet's trust root.
    /// </summary>
    public EdgeGateway(AggregatorOptions options, string gatewayId, IFleetChannelFactory upstream, IFleetChannelFactory site, byte[] rootPublicKey, TimeProvider time, ILoggerFactory loggers)
    {
        if (!Topics.IsValidSegment(gatewayId)) throw new ArgumentException($"'{gatewayId}' is not a gateway id", nameof(gatewayId));
        options.Validate();
        if (Problem(options) is { } problem) throw new ArgumentException(problem, nameof(options));
        if (!options.Edge.Gateways.ContainsKey(gatewayId))
        {
            throw new ArgumentException($"Aggregator:Edge:Gateways:{gatewayId} must list the devices this gateway serves (the same list as on the fleet's aggregator, whose broker allows it no other)", nameof(options));
        }

        _edge = options.Edge;
        (Id, _time) = (gatewayId, time);
        _topics = new Topics(options.Fleet);
        _logger = loggers.CreateLogger<EdgeGateway>();
        _rounds = new SiteRounds(options, gatewayId);
        Below = new GatewayLedger(options.Edge with { Gateways = options.Edge.Gateways.Where(g => g.Key != gatewayId).ToDictionary(StringComparer.Ordinal) });
        _trust = new GatewayTrust(options.Fleet, rootPublicKey, TakeOutRevoked);
        _databases = new StoreDatabases(options.Store, options.DataDirectory, time);
        try
        {
            _seen = new SeenMessages(_databases.Open("messages.db", durable: false), time);
        }
        catch
        {
            _databases.Dispose();
            throw;
        }

        // Upstream a persistent session: tasks sent while the link is down wait at the fleet's broker.
        _upstream = upstream.Create(new FleetChannelOptions(Runtime.Security.FleetIdentity.GatewayClientId(gatewayId)), loggers);
        _upstream.MessageReceived = OnUpstreamAsync;
        _sender = new UpstreamSender(_upstream, _rounds, options, gatewayId, time, _logger);
        _upstream.Connected = _ =>
        {
            Wake();
            return Task.CompletedTask;
        };
        _site = site.Create(new FleetChannelOptions(Security.TopicAcl.SiteGatewayClientId(gatewayId)) { CleanStart = true, SessionExpirySeconds = 0 }, loggers);
        _site.MessageReceived = OnSiteAsync;
        var folded = options.Lines.Where(l => Problem(l.Options) is null).ToDictionary(l => l.Name, l => new LineSite(l, gatewayId, rootPublicKey, _upstream, time, _logger), StringComparer.Ordinal);
        foreach (var line in options.Lines.Where(l => !folded.ContainsKey(l.Name))) _logger.LogLineRelayed(gatewayId, line.Name, Problem(line.Options)!);
        _lines = new GatewayLines(_topics, _upstream, _site, _trust, folded, Rejections, gatewayId, _logger);
        UpstreamAddress = upstream.Address;
        SiteAddress = site.Address;
    }

    public string Id { get; }

    /// <summary>
    /// Why a gateway cannot aggregate for <paramref name="options"/>' rounds, or null: its partial is a sum the aggregator
    /// adds to its own, so the rule must be a mean rule (median, trimmed mean and Krum need every update in one place) and
    /// without differential privacy (its clip norm adapts at the aggregator); buffered rounds take updates one by one.
    /// </summary>
    public static string? Problem(AggregatorOptions options)
    {
        if (options.Rounds.Mode != RoundMode.Synchronous) return "an edge gateway aggregates synchronous rounds; Rounds:Mode 'buffered' takes updates one by one";
        if (options.Strategy.Dp is not null) return "differential privacy clips against a clip norm the aggregator adapts: devices behind a gateway need Strategy:Dp off";
        var combiner = Shared.Federated.StandardStrategy.Create(options.Strategy).CreateCombiner(new Shared.Federated.RoundContext(0, 1, 1, 1, 0), Shared.Models.ParameterLayout.For(options.Model));
        return combiner is Shared.Aggregation.IPartialCombiner ? null : $"the '{options.Strategy.Name}' rule needs every update in one process (only mean rules add up across a gateway's partial)";
    }

    public string UpstreamAddress { get; }

    public string SiteAddress { get; }

    /// <summary>The site's updates folded into partials not sent yet (the first model's and each folded line's).</summary>
    public int UnsentUpdates => _rounds.Unsent + _lines.Sites.Sum(l => l.Rounds.Unsent);

    /// <summary>Partials sent upstream, and their bytes (the first model's and each folded line's).</summary>
    public long PartialsSent => _sender.PartialsSent + _lines.Sites.Sum(l => l.Sender.PartialsSent);

    public long PartialBytes => _sender.PartialBytes + _lines.Sites.Sum(l => l.Sender.PartialBytes);

    /// <summary>Every byte the gateway sent upstream (partials and relayed statuses, evaluations, profiles).</summary>
    public long UpstreamBytes => _upstream.BytesSent;

    /// <summary>Messages waiting for the fleet's broker, and those the queue had to drop (oldest relays first).</summary>
    public int Pending => _sender.Pending;

    public long Dropped => _sender.Dropped;

    /// <summary>Whether the link to the fleet's broker is up now.</summary>
    public bool UpstreamConnected => _upstream.IsConnected;

    /// <summary>Messages the fleet's broker refused outright (a device its list for this gateway lacks), dropped.</summary>
    public long RefusedUpstream => _sender.Refused;

    /// <summary>Catalogues of model lines refused (forged, another fleet's, older than the one in force).</summary>
    public long CataloguesRefused => _lines.Refused;

    /// <summary>Called with the artifacts a relayed announcement or rollout plan names, a model line's too (a gateway's cache fetches them ahead).</summary>
    public Action<IReadOnlyList<string>>? ArtifactsNamed
    {
        get => _lines.ArtifactsNamed;
        set => _lines.ArtifactsNamed = value;
    }

    /// <summary>The model lines of the fleet's catalogue in force, whose statements and messages this gateway relays.</summary>
    public IReadOnlyList<string> Lines => _lines.Names;

    /// <summary>Whether this gateway folds line <paramref name="name"/>'s updates into partials (configured with it), or relays them one by one.</summary>
    public bool Folds(string name) => _lines.Folds(name);

    /// <summary>
    /// Called with the devices the fleet revoked, from each verified revocation list newer than the last (the gateway's
    /// host refuses them at the site's broker and drops their connections).
    /// </summary>
    public Action<IReadOnlyList<string>>? DevicesRevoked
    {
        get => _trust.DevicesRevoked;
        set => _trust.DevicesRevoked = value;
    }

    /// <summary>On a gateway of gateways, what each gateway below it delivered (partials merged and refused, by reason).</summary>
    public GatewayLedger Below { get; }

    /// <summary>Updates, tasks and relays refused, by reason.</summary>
    public RejectionCounters Rejections { get; } = new();

    /// <summary>Devices the fleet revoked: refused from now on, and taken out of the site's partials not yet sent.</summary>
    private void TakeOutRevoked(IReadOnlyList<string> deviceIds)
    {
        foreach (var rounds in _lines.Sites.Select(l => l.Rounds).Prepend(_rounds))
        {
            foreach (var change in rounds.Revoked(deviceIds)) _logger.LogRevokedTakenOut(Id, change);
        }
    }

    /// <summary>Something may be due or sendable now (the link back): every sender looks.</summary>
    private void Wake()
    {
        _sender.Wake();
        foreach (var line in _lines.Sites) line.Sender.Wake();
    }

    /// <summary>Joins both brokers (the site's at once, the fleet's as soon as it answers) and starts sending upstream.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _site.SubscribeAsync([_topics.AllDevices("status"), _topics.AllDevices("update"), _topics.AllDevices("eval"), _topics.AllDevices("profile"), _topics.AllGatewayPartials, .. GatewayLines.SiteFilters(_topics)], cancellationToken).ConfigureAwait(false);
        await _site.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await _upstream.SubscribeAsync([_topics.Trust, _topics.Model, _topics.Rollout, _topics.Timestamp, _topics.Revocations, _topics.Catalogue], cancellationToken).ConfigureAwait(false);
        await _upstream.StartAsync(cancellationToken).ConfigureAwait(false);
        _pump = Task.WhenAll(_lines.Sites.Select(l => l.Sender).Prepend(_sender).Select(sender => Task.Run(() => sender.RunAsync(_stopping.Token), CancellationToken.None)));
        _logger.LogGatewayStarted(Id, SiteAddress, UpstreamAddress);
    }

    /// <summary>From the fleet's broker: retained statements and the site's tasks, relayed down as they are.</summary>
    private async Task OnUpstreamAsync(string topic, ReadOnlySequence<byte> payload)
    {
        try
        {
            var bytes = payload.ToArray();
            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            if (topic == _topics.Revocations)
            {
                if (_trust.OfferRevocations(Signed.Parser.ParseFrom(bytes), now) is { } refused)
                {
                    Rejections.Add(RejectionReason.Malformed);
                    _logger.LogRevocationListRefused(Id, refused);
                    return;
                }

                await _site.PublishAsync(topic, bytes, retain: true, _stopping.Token).ConfigureAwait(false); // for gateways below (each verifies it)
                return;
            }

            if (topic == _topics.Trust || topic == _topics.Model || topic == _topics.Rollout || topic == _topics.Timestamp)
            {
                await _site.PublishAsync(topic, bytes, retain: true, _stopping.Token).ConfigureAwait(false);
                if (topic == _topics.Trust && _trust.AcceptBundle(Signed.Parser.ParseFrom(bytes), now).Ok) await _lines.BundleAcceptedAsync(now, _stopping.Token).ConfigureAwait(false);
                _lines.NameArtifacts(_topics, topic, bytes);
                return;
            }

            if (await _lines.OnUpstreamAsync(topic, bytes, now, _stopping.Token).ConfigureAwait(false)) return;

            if (!_topics.TryParseDeviceTopic(topic, out var deviceId, out var kind) || kind != "task") return;
            var verified = _trust.VerifyTaskFor(deviceId, Signed.Parser.ParseFrom(bytes), now);
            if (!verified.Ok)
            {
                Rejections.Add(RejectionReason.Malformed);
                _logger.LogSiteUpdateRefused(Id, deviceId, RejectionReason.Malformed, $"task refused: {verified.Reason}");
                return;
            }

            if (verified.Value!.Kind == TaskKind.Train) _rounds.Tasked(verified.Value, _time.GetUtcNow());
            await _site.PublishAsync(topic, bytes, retain: false, _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidOperationException)
        {
            Rejections.Add(RejectionReason.Malformed);
            _logger.LogSiteUpdateRefused(Id, topic, RejectionReason.Malformed, ex.Message);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>From the site's broker: updates folded here, everything else relayed up; never throws into the receive loop.</summary>
    private async Task OnSiteAsync(string topic, ReadOnlySequence<byte> payload)
    {
        Topics? line = null;
        if (_topics.TryParseLine(topic, out var lineTopics)) line = lineTopics;
        if ((line ?? _topics).TryParseGatewayPartial(topic, out var below))
        {
            OnPartialBelow(below, payload, line);
            return;
        }

        if (!(line ?? _topics).TryParseDeviceTopic(topic, out var deviceId, out var kind)) return;
        var rounds = line is null ? _rounds : _lines.Folded(line)?.Rounds; // a line the gateway does not fold: relayed as sent

        if (!_edge.Serves(Id, deviceId))
        {
            // Not one of this site's devices (its broker should have refused it): relaying or subscribing for it would
            // be refused by the fleet's broker, which then drops the gateway's connection.
            Refuse(deviceId, new OfferOutcome(false, RejectionReason.NotAuthorized, $"{kind} of a device gateway '{Id}' does not serve (Edge:Gateways:{Id})"));
            return;
        }

        if (payload.Length > ProtocolInfo.MaxPayloadBytes)
        {
            Refuse(deviceId, new OfferOutcome(false, RejectionReason.Oversized, $"{payload.Length} bytes on {kind}"));
            return;
        }

        if (kind != "update" || rounds is null)
        {
            if (kind == "status") await NoteDeviceAsync(deviceId).ConfigureAwait(false);
            _sender.Relay(topic, payload.ToArray(), retain: kind == "status");
            return;
        }

        try
        {
            var update = ModelUpdate.Parser.ParseFrom(payload);
            var outcome = UpdateEnvelope.Check(deviceId, update, _seen);
            if (outcome.Accepted) outcome = rounds.Offer(deviceId, update, _time.GetUtcNow());
            if (!outcome.Accepted) Refuse(deviceId, outcome);
            else Wake();
        }
        catch (InvalidProtocolBufferException ex)
        {
            Refuse(deviceId, new OfferOutcome(false, RejectionReason.Malformed, ex.Message));
        }
        catch (System.Data.Common.DbException ex)
        {
            Refuse(deviceId, new OfferOutcome(false, RejectionReason.StoreUnavailable, ex.Message));
        }
    }

    /// <summary>
    /// A partial from a gateway below this one: checked as the fleet's aggregator checks one (a gateway this one lists,
    /// devices it serves and this one serves too, none revoked, bounds, first delivery), then folded whole into the
    /// round's batch or refused whole.
    /// </summary>
    private void OnPartialBelow(string gatewayId, ReadOnlySequence<byte> payload, Topics? line)
    {
        try
        {
            var rounds = line is null ? _rounds : _lines.Folded(line)?.Rounds;
            var partial = payload.Length > ProtocolInfo.MaxPayloadBytes ? null : EdgePartial.Parser.ParseFrom(payload);
            var outcome = partial is null
                ? new OfferOutcome(false, RejectionReason.Oversized, $"{payload.Length} bytes")
                : gatewayId == Id ? new OfferOutcome(false, RejectionReason.NotAuthorized, "a partial in this gateway's own name")
                : rounds is null ? new OfferOutcome(false, RejectionReason.NotAuthorized, $"a partial of model line '{line!.Line}', which gateway '{Id}' does not fold (Aggregator:Lines:{line.Line})")
                : EdgePartialCheck.Check(gatewayId, partial, _edge, _rounds.IsRevoked);
            if (outcome.Accepted && partial!.Share.Contributors.FirstOrDefault(c => !_edge.Serves(Id, c.DeviceId)) is { } foreign)
            {
                outcome = new OfferOutcome(false, RejectionReason.NotAuthorized, $"gateway '{Id}' does not serve device '{foreign.DeviceId}' (Edge:Gateways:{Id})");
            }

            if (outcome.Accepted) outcome = UpdateEnvelope.FirstDelivery("gateways/" + gatewayId, partial!.Header.MessageId, "partial", _seen);
            if (outcome.Accepted) outcome = rounds!.Merge(partial!, _time.GetUtcNow());
            if (!outcome.Accepted)
            {
                RefusePartial(gatewayId, outcome);
                return;
            }

            _logger.LogPartialMerged(gatewayId, partial!.Share.RoundId, partial.Share.Contributors.Count, payload.Length);
            Below.Merged(gatewayId, partial.Share.Contributors.Count, payload.Length, _time.GetUtcNow());
            Wake();
        }
        catch (InvalidProtocolBufferException ex)
        {
            RefusePartial(gatewayId, new OfferOutcome(false, RejectionReason.Malformed, ex.Message));
        }
        catch (System.Data.Common.DbException ex)
        {
            RefusePartial(gatewayId, new OfferOutcome(false, RejectionReason.StoreUnavailable, ex.Message));
        }
    }

    private void RefusePartial(string gatewayId, OfferOutcome outcome)
    {
        Rejections.Add(outcome.Reason);
        Below.Refused(gatewayId, outcome.Reason, _time.GetUtcNow());
        _logger.LogPartialRefused(gatewayId, outcome.Reason, outcome.Detail);
    }

    /// <summary>A device first heard from: its tasks, in every model line too, are subscribed upstream (the fleet's broker allows only the gateway's own devices).</summary>
    private async Task NoteDeviceAsync(string deviceId)
    {
        if (_lines.Note(deviceId, _topics.Task(deviceId)) is not { } tasks) return;
        _rounds.Known(deviceId);

        try
        {
            await _upstream.SubscribeAsync(tasks, _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException)
        {
            // Subscriptions are restored on every reconnection: the next one asks again.
        }
    }

    private void Refuse(string deviceId, OfferOutcome outcome)
    {
        Rejections.Add(outcome.Reason);
        _logger.LogSiteUpdateRefused(Id, deviceId, outcome.Reason, outcome.Detail);
    }

    /// <summary>Stops relaying, sends what is due once more if the fleet's broker is there, and disconnects from both.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _site.DisposeAsync().ConfigureAwait(false);
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _pump.ConfigureAwait(false);
        await _upstream.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
        _seen.Dispose();
        _databases.Dispose();
    }
}
