using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Edge;

/// <summary>
/// The fleet's model lines at a gateway (docs/SCALING.md, "Edge tier", its "Model lines"). Down: the fleet's signed
/// catalogue — verified against the fleet's trust, newer than the last, kept waiting if it comes before the trust bundle
/// — says which lines there are; for each the gateway follows at the fleet's broker the line's retained statements
/// (trust, model, rollout, timestamp) and the line tasks of every site device it has heard from, and relays them to its
/// site as they are (devices verify them as ever; the artifacts they name are fetched ahead). A line taken out of the
/// catalogue is no longer followed. Up, a device's line messages go as it sent them (<see cref="SiteFilters"/>) — but
/// the updates of a line the gateway is configured with (<paramref name="folded"/>, <see cref="LineSite"/>) are folded
/// into partials as the first model's are, its tasks verified against the line's own trust first; any other line's
/// updates go up one by one.
/// </summary>
internal sealed class GatewayLines(Topics topics, IFleetChannel upstream, IFleetChannel site, GatewayTrust trust, IReadOnlyDictionary<string, LineSite> folded, RejectionCounters rejections, string gatewayId, ILogger logger)
{
    private static readonly string[] DeviceKinds = ["status", "update", "eval", "profile"];
    private readonly Lock _gate = new();
    private readonly HashSet<string> _devices = new(StringComparer.Ordinal);
    private Topics[] _lines = [];
    private long _issued = long.MinValue;
    private Signed? _waiting;
    private long _refused;

    /// <summary>Where a gateway hears its site's devices in every line, and the line partials of the gateways below it.</summary>
    public static IReadOnlyList<string> SiteFilters(Topics topics) =>
        [.. DeviceKinds.Select(kind => $"{topics.FleetPrefix}/{Topics.LinesSegment}/+/devices/+/{kind}"), $"{topics.FleetPrefix}/{Topics.LinesSegment}/+/gateways/+/partial"];

    /// <summary>The lines of the catalogue in force.</summary>
    public IReadOnlyList<string> Names
    {
        get
        {
            lock (_gate) return [.. _lines.Select(l => l.Line!)];
        }
    }

    /// <summary>Catalogues refused (forged, another fleet's, older than the one in force).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Called with the artifacts a relayed line announcement or rollout plan names.</summary>
    public Action<IReadOnlyList<string>>? ArtifactsNamed { get; set; }

    /// <summary>
    /// A message from the fleet's broker: the catalogue, a followed line's retained statement or one of its site devices'
    /// line tasks — relayed down (the catalogue once verified) and true; false for any other topic.
    /// </summary>
    public async Task<bool> OnUpstreamAsync(string topic, byte[] payload, long nowUnixMs, CancellationToken cancellationToken)
    {
        if (topic == topics.Catalogue)
        {
            await OfferAsync(Signed.Parser.ParseFrom(payload), nowUnixMs, cancellationToken).ConfigureAwait(false);
            return true;
        }

        if (!topics.TryParseLine(topic, out var line)) return false;
        bool followed, served = false, retained = topic == line.Trust || topic == line.Model || topic == line.Rollout || topic == line.Timestamp;
        lock (_gate)
        {
            followed = _lines.Any(l => l.Line == line.Line);
            if (!retained && line.TryParseDeviceTopic(topic, out var deviceId, out var kind)) served = kind == "task" && _devices.Contains(deviceId);
        }

        if (!followed || !(retained || served)) return true; // a line no longer followed, or nothing a site device reads: dropped
        if (folded.TryGetValue(line.Line!, out var known) && !Fold(known, topic, payload, nowUnixMs)) return true;
        await site.PublishAsync(topic, payload, retain: retained, cancellationToken).ConfigureAwait(false);
        NameArtifacts(line, topic, payload);
        return true;
    }

    /// <summary>A relayed announcement or rollout plan of the first model or a line (<paramref name="scope"/>): the artifacts it names go to <see cref="ArtifactsNamed"/>.</summary>
    public void NameArtifacts(Topics scope, string topic, byte[] payload)
    {
        if ((topic == scope.Model || topic == scope.Rollout) && ArtifactsNamed is { } named && ManifestArtifacts.Named(topic == scope.Model, payload) is { Count: > 0 } artifacts)
        {
            named(artifacts); // not awaited: the receive loop relays on while the files come
        }
    }

    /// <summary>
    /// What a folded line's statement or task means to the gateway's own rounds: its trust bundle is taken, a task is
    /// verified against it (a forged one is refused, not relayed) and a train task makes its round known. Whether to relay it.
    /// </summary>
    private bool Fold(LineSite line, string topic, byte[] payload, long nowUnixMs)
    {
        if (topic == line.Topics.Trust)
        {
            line.Trust.AcceptBundle(Signed.Parser.ParseFrom(payload), nowUnixMs);
            return true;
        }

        if (!line.Topics.TryParseDeviceTopic(topic, out var deviceId, out _)) return true; // a retained statement
        var verified = line.Trust.VerifyTaskFor(deviceId, Signed.Parser.ParseFrom(payload), nowUnixMs);
        if (!verified.Ok)
        {
            rejections.Add(Shared.RejectionReason.Malformed);
            logger.LogSiteUpdateRefused(gatewayId, deviceId, Shared.RejectionReason.Malformed, $"line {line.Topics.Line}'s task refused: {verified.Reason}");
            return false;
        }

        if (verified.Value!.Kind == TaskKind.Train) line.Rounds.Tasked(verified.Value, DateTimeOffset.FromUnixTimeMilliseconds(nowUnixMs));
        return true;
    }

    /// <summary>The folded line of <paramref name="line"/>'s topics, or null (its updates go up one by one).</summary>
    public LineSite? Folded(Topics line) => folded.GetValueOrDefault(line.Line!);

    /// <summary>Whether line <paramref name="name"/>'s updates are folded here (else relayed one by one).</summary>
    public bool Folds(string name) => folded.ContainsKey(name);

    /// <summary>Every folded line's site.</summary>
    public IEnumerable<LineSite> Sites => folded.Values;

    /// <summary>The trust bundle came: a catalogue that waited for it is verified now.</summary>
    public Task BundleAcceptedAsync(long nowUnixMs, CancellationToken cancellationToken)
    {
        Signed? waiting;
        lock (_gate) (waiting, _waiting) = (_waiting, null);
        return waiting is null ? Task.CompletedTask : OfferAsync(waiting, nowUnixMs, cancellationToken);
    }

    /// <summary>
    /// A site device heard from (its status): its tasks in every line are followed from now on — the filters to subscribe
    /// now, with its first model's task (<paramref name="firstTask"/>); null for a device heard from before.
    /// </summary>
    public IReadOnlyList<string>? Note(string deviceId, string firstTask)
    {
        lock (_gate)
        {
            return _devices.Add(deviceId) ? [firstTask, .. _lines.Select(l => l.Task(deviceId))] : null;
        }
    }

    private async Task OfferAsync(Signed envelope, long nowUnixMs, CancellationToken cancellationToken)
    {
        var verified = trust.VerifyCatalogue(envelope, nowUnixMs);
        if (!verified.Ok)
        {
            if (verified.Failure == TrustFailure.UnknownKey)
            {
                lock (_gate) _waiting = envelope; // its key may be certified by a bundle still on its way
                return;
            }

            Refuse(verified.Reason ?? "not verified");
            return;
        }

        Topics[] added, removed;
        string[] devices;
        lock (_gate)
        {
            if (verified.Value!.IssuedUnixMs < _issued)
            {
                Refuse($"issued {verified.Value.IssuedUnixMs}, older than the catalogue in force ({_issued})");
                return;
            }

            _issued = verified.Value.IssuedUnixMs;
            var now = verified.Value.Lines.Select(l => topics.ForLine(l.Name)).ToArray();
            added = [.. now.Where(n => !_lines.Any(o => o.Line == n.Line))];
            removed = [.. _lines.Where(o => !now.Any(n => n.Line == o.Line))];
            (_lines, devices) = (now, [.. _devices]);
        }

        if (removed.Length > 0) await upstream.UnsubscribeAsync([.. removed.SelectMany(l => Filters(l, devices))], cancellationToken).ConfigureAwait(false);
        if (added.Length > 0) await FollowAsync([.. added.SelectMany(l => Filters(l, devices))], cancellationToken).ConfigureAwait(false);
        await site.PublishAsync(topics.Catalogue, envelope.ToByteArray(), retain: true, cancellationToken).ConfigureAwait(false);
        if (added.Length + removed.Length > 0) logger.LogGatewayLines(gatewayId, string.Join(", ", Names));
    }

    private static IEnumerable<string> Filters(Topics line, IEnumerable<string> devices) =>
        [line.Trust, line.Model, line.Rollout, line.Timestamp, .. devices.Select(line.Task)];

    private async Task FollowAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken)
    {
        try
        {
            await upstream.SubscribeAsync(filters, cancellationToken).ConfigureAwait(false);
        }
        catch (Runtime.Mqtt.BrokerRefusedException ex)
        {
            // The fleet's broker's rules lack a line's topics for this gateway (Mosquitto's ACL not regenerated): said, not fatal.
            logger.LogUpstreamRefused(gatewayId, string.Join(", ", filters), ex.Message);
        }
    }

    private void Refuse(string reason)
    {
        Interlocked.Increment(ref _refused);
        logger.LogCatalogueRefused(gatewayId, reason);
    }
}
