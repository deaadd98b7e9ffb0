using EdgeMlOps.Runtime.Security;
using EdgeMlOps.Shared.Protocol;

namespace EdgeMlOps.Aggregator.Security;

/// <summary>
/// Who may publish and subscribe where, decided from the authenticated identity alone (AWS IoT's
/// policy variables, Mosquitto's <c>%u</c> patterns): a device publishes only under its own
/// <c>devices/{id}/</c> subtree (status, update, eval, profile) and reads only its own task topic
/// and the fleet-wide retained topics; the aggregator may do anything inside its fleet's prefix; an edge gateway
/// publishes its own partials and relays the statuses, evaluations and profiles of the devices it serves
/// (<see cref="Edge.EdgeOptions.Gateways"/>), and reads the retained topics, the revocation list and those devices' tasks — never their first
/// model's updates one by one, never another site's devices. Nobody reaches outside the fleet's prefix or uses shared subscriptions.
/// A device has the same rights in every model line (<c>lines/{line}/</c>, <see cref="Topics.TryParseLine"/>) and
/// reads the fleet's catalogue of lines, on a site's broker as on the fleet's. A gateway relays its devices' messages of
/// every line — a line's updates too, one by one, or its own partials of a line it folds — and reads each line's
/// retained statements and its devices' tasks there.
/// </summary>
/// <remarks>
/// On a site's broker (<paramref name="siteGateway"/> set) the site's own gateway is that broker's aggregator: with its
/// gateway certificate and the client id <see cref="SiteGatewayClientId"/> it may do there what the aggregator does.
/// A gateway of gateways (a region) also admits the gateways below it (the others its <c>Edge:Gateways</c> lists), each
/// with the gateway rules for the devices both it and the region serve.
/// </remarks>
public sealed class TopicAcl(Topics topics, Edge.EdgeOptions? edge = null, string? siteGateway = null)
{
    private static readonly HashSet<string> DeviceKinds = ["status", "update", "eval", "profile"];
    private static readonly HashSet<string> RelayedKinds = ["status", "eval", "profile"];
    private readonly Edge.EdgeOptions _edge = edge ?? new Edge.EdgeOptions();

    /// <summary>The client ids an identity may connect with: a device its own id, the aggregator ids beginning with its name.</summary>
    public static bool MayUseClientId(FleetIdentity who, string clientId) => who.Role switch
    {
        FleetRole.Device => clientId == who.Id && !FleetIdentity.IsReservedDeviceId(clientId),
        FleetRole.Aggregator => clientId.StartsWith(FleetIdentity.AggregatorName, StringComparison.Ordinal),
        FleetRole.Gateway => clientId == FleetIdentity.GatewayClientId(who.Id),
        _ => false,
    };

    /// <summary>The client id a site's own gateway connects to its site's broker with (read there as the aggregator's).</summary>
    public static string SiteGatewayClientId(string gatewayId) => $"{FleetIdentity.AggregatorName}-edge-{gatewayId}";

    /// <summary>Whether <paramref name="who"/> may connect with <paramref name="clientId"/> to this broker: <see cref="MayUseClientId"/>; on a site's broker only that site's devices and its gateway.</summary>
    public bool MayConnectAs(FleetIdentity who, string clientId) => siteGateway is null
        ? MayUseClientId(who, clientId)
        : who.Role switch
        {
            // A site's broker: the devices its gateway serves (no other can be tasked or counted there), and the gateway itself.
            FleetRole.Device => MayUseClientId(who, clientId) && _edge.Serves(siteGateway, who.Id),
            FleetRole.Gateway => who.Id == siteGateway
                ? clientId == SiteGatewayClientId(siteGateway)
                : _edge.Gateways.ContainsKey(who.Id) && MayUseClientId(who, clientId), // a gateway below this one
            _ => false,
        };

    /// <summary>Why a site's broker refuses <paramref name="who"/>: a device its gateway does not serve, a gateway it does not list; null elsewhere.</summary>
    public string? NotOfThisSite(FleetIdentity who) => siteGateway is null ? null : who.Role switch
    {
        FleetRole.Device when !_edge.Serves(siteGateway, who.Id) => $"device '{who.Id}' is not one of gateway '{siteGateway}''s devices (Edge:Gateways:{siteGateway})",
        FleetRole.Gateway when who.Id != siteGateway && !_edge.Gateways.ContainsKey(who.Id) => $"gateway '{who.Id}' is not a gateway below '{siteGateway}' (Edge:Gateways:{who.Id})",
        _ => null,
    };

    /// <summary>Whether a gateway may speak for <paramref name="deviceId"/> here: one it serves, and on a site's broker one the site serves too.</summary>
    private bool GatewayServes(string gatewayId, string deviceId) =>
        _edge.Serves(gatewayId, deviceId) && (siteGateway is null || _edge.Serves(siteGateway, deviceId));

    /// <summary>The identity a connected client id stands for (client ids are bound to certificates at connection).</summary>
    public FleetIdentity IdentityOf(string clientId) =>
        clientId.StartsWith(FleetIdentity.GatewayClientPrefix, StringComparison.Ordinal)
            ? new FleetIdentity(clientId[FleetIdentity.GatewayClientPrefix.Length..], FleetRole.Gateway, topics.Fleet)
            : FleetIdentity.IsReservedDeviceId(clientId)
                ? new FleetIdentity(FleetIdentity.AggregatorName, FleetRole.Aggregator, topics.Fleet)
                : new FleetIdentity(clientId, FleetRole.Device, topics.Fleet);

    public bool MayPublish(FleetIdentity who, string topic)
    {
        if (who.Fleet != topics.Fleet) return false;
        if (who.Role == FleetRole.Aggregator) return IsInsideFleet(topic);
        if (who.Role == FleetRole.Gateway)
        {
            var scope = ScopeOf(topic);
            if (topic == scope.GatewayPartial(who.Id)) return true; // the first model's partials, or a line's it folds
            return scope.TryParseDeviceTopic(topic, out var device, out var relayed) && (RelayedKinds.Contains(relayed) || (scope.Line is not null && relayed == "update")) && GatewayServes(who.Id, device);
        }

        return ScopeOf(topic).TryParseDeviceTopic(topic, out var id, out var kind) && id == who.Id && DeviceKinds.Contains(kind);
    }

    public bool MaySubscribe(FleetIdentity who, string filter)
    {
        if (who.Fleet != topics.Fleet) return false;
        if (who.Role == FleetRole.Aggregator) return IsInsideFleet(filter);
        if (filter == topics.Catalogue) return true;
        var scope = ScopeOf(filter);
        if (filter == scope.Model || filter == scope.Rollout || filter == scope.Trust || filter == scope.Timestamp) return true;
        if (who.Role == FleetRole.Gateway)
        {
            if (filter == topics.Revocations) return true; // a gateway refuses revoked devices at its site's broker
            return scope.TryParseDeviceTopic(filter, out var device, out var kind) && kind == "task" && Topics.IsValidSegment(device) && GatewayServes(who.Id, device);
        }

        return filter == scope.Task(who.Id);
    }

    /// <summary>The topics a device's or gateway's topic or filter is judged by: its model line's, or the fleet's.</summary>
    private Topics ScopeOf(string topic) => topics.TryParseLine(topic, out var line) ? line : topics;

    private bool IsInsideFleet(string topic) =>
        topic.StartsWith(topics.Prefix + "/", StringComparison.Ordinal) && !topic.StartsWith("$", StringComparison.Ordinal);
}
