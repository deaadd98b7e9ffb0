using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Runtime.Security;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Security;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace EdgeMlOps.Aggregator.Security;

/// <summary>
/// The embedded broker's gatekeeper: TLS client certificates must chain to the fleet CA; the
/// certificate's identity must be of this fleet, not revoked, and match the client id; every publish
/// and subscription is checked against the <see cref="TopicAcl"/>. A client that breaks a rule is
/// refused, disconnected and the event recorded.
/// </summary>
public sealed class BrokerGuard(X509Certificate2 fleetCa, string fleet, TopicAcl acl, SecurityEvents events, TimeProvider time, PublishRateLimiter? rates = null, DevicePublishLimits? limits = null)
{
    private readonly Topics _topics = new(fleet);
    private readonly DevicePublishLimits _limits = limits ?? DevicePublishLimits.Protocol;

    private readonly ConcurrentDictionary<string, byte> _revoked = new(StringComparer.Ordinal);

    public SecurityEvents Events => events;

    /// <summary>A client went away: its rate bucket goes too.</summary>
    public Task ClientDisconnectedAsync(ClientDisconnectedEventArgs e)
    {
        rates?.Forget(e.ClientId);
        return Task.CompletedTask;
    }

    public void Revoke(string deviceId) => _revoked[deviceId] = 0;

    public bool IsRevoked(string deviceId) => _revoked.ContainsKey(deviceId);

    /// <summary>TLS handshake: the client's certificate must come from the fleet CA and be valid now.</summary>
    public bool ValidateClientCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null)
        {
            events.Record(SecurityEventKind.ConnectionRefused, "(tls)", "no client certificate");
            return false;
        }

        if (CertificateChain.IsIssuedBy(certificate, fleetCa, time.GetUtcNow(), out var error)) return true;
        events.Record(SecurityEventKind.ConnectionRefused, certificate.Subject, "certificate not from the fleet CA or not valid now: " + error);
        return false;
    }

    /// <summary>
    /// Largest MQTT packet a client may send, enforced as it is read: the aggregator the protocol's payload limit; any
    /// other certificate a device's largest message kind (its update, sized from the model) — plus room for the topic
    /// and properties.
    /// </summary>
    public int MaxPacketBytes(X509Certificate2? certificate) =>
        PacketOverheadBytes + (certificate is not null && FleetIdentity.FromCertificate(certificate) is { Role: FleetRole.Aggregator or FleetRole.Gateway } ? ProtocolInfo.MaxPayloadBytes : _limits.Largest);

    /// <summary>Room in a packet beyond its payload: topic, properties, packet id.</summary>
    public const int PacketOverheadBytes = 64 * 1024;

    /// <summary>A client declared a packet over its limit: the connection was closed before the packet was read.</summary>
    public void PacketRefused(X509Certificate2? certificate, long size, int limit) =>
        events.Record(SecurityEventKind.PublishDenied, certificate?.Subject ?? "(tls)", $"packet of {size} bytes refused as it began (limit {limit}); connection closed");

    /// <summary>A connection that did not complete its TLS handshake in time (a stalled or hostile client) was closed.</summary>
    public void HandshakeTimedOut(System.Net.EndPoint? remote, TimeSpan timeout) =>
        events.Record(SecurityEventKind.ConnectionRefused, "(tls)", $"TLS handshake not completed within {timeout.TotalSeconds:0.#} s (from {remote}); connection closed");

    /// <summary>A connection arrived while the most connections allowed were still in their TLS handshake: closed at once.</summary>
    public void HandshakesAtCap(System.Net.EndPoint? remote, int cap) =>
        events.Record(SecurityEventKind.ConnectionRefused, "(tls)", $"{cap} connections already in their TLS handshake (Security:MaxPendingTlsHandshakes; from {remote}); connection closed");

    public Task ValidateConnectionAsync(ValidatingConnectionEventArgs e)
    {
        var refusal = Refusal(e);
        if (refusal is not null)
        {
            e.ReasonCode = MqttConnectReasonCode.NotAuthorized;
            e.ReasonString = refusal;
            events.Record(SecurityEventKind.ConnectionRefused, e.ClientId ?? "(none)", refusal + $" (from {e.RemoteEndPoint})");
        }

        return Task.CompletedTask;
    }

    public Task InterceptPublishAsync(InterceptingPublishEventArgs e)
    {
        // Messages the broker itself injects carry no client id.
        if (string.IsNullOrEmpty(e.ClientId)) return Task.CompletedTask;
        var who = acl.IdentityOf(e.ClientId);
        var size = e.ApplicationMessage.Payload.Length;
        var limit = who.Role == FleetRole.Device && _topics.TryParseDeviceTopic(e.ApplicationMessage.Topic, out _, out var kind) ? _limits.For(kind) : ProtocolInfo.MaxPayloadBytes;
        string? denial = !acl.MayPublish(who, e.ApplicationMessage.Topic) ? "publish to " + e.ApplicationMessage.Topic
            : who.Role == FleetRole.Device && size > limit ? $"{size} bytes to {e.ApplicationMessage.Topic} (limit {limit})"
            : who.Role == FleetRole.Device && rates is not null && !rates.TryTake(e.ClientId) ? "publishing faster than Security:DeviceMessagesPerSecond / DeviceMessageBurst allow"
            : null;
        if (denial is null) return Task.CompletedTask;

        // Neither forwarded nor queued: an oversized or forbidden message costs the fleet nothing beyond reading it once.
        // A device is disconnected; a gateway is told no and keeps its link (a relay its list and the fleet's disagree on
        // must not cut a whole site off), as Mosquitto answers every client.
        e.ProcessPublish = false;
        e.CloseConnection = who.Role != FleetRole.Gateway;
        e.Response.ReasonCode = MqttPubAckReasonCode.NotAuthorized;
        events.Record(SecurityEventKind.PublishDenied, e.ClientId, denial);
        return Task.CompletedTask;
    }

    public Task InterceptSubscriptionAsync(InterceptingSubscriptionEventArgs e)
    {
        var who = acl.IdentityOf(e.ClientId);
        if (acl.MaySubscribe(who, e.TopicFilter.Topic)) return Task.CompletedTask;
        e.ProcessSubscription = false;
        e.CloseConnection = who.Role != FleetRole.Gateway;
        e.Response.ReasonCode = MqttSubscribeReasonCode.NotAuthorized;
        events.Record(SecurityEventKind.SubscribeDenied, e.ClientId, "subscribe to " + e.TopicFilter.Topic);
        return Task.CompletedTask;
    }

    private string? Refusal(ValidatingConnectionEventArgs e)
    {
        if (e.ClientCertificate is null) return "no client certificate";
        var who = FleetIdentity.FromCertificate(e.ClientCertificate);
        if (who is null) return $"certificate subject '{e.ClientCertificate.Subject}' is not a fleet identity";
        if (who.Fleet != fleet) return $"certificate is for fleet '{who.Fleet}'";
        if (who.Role == FleetRole.Device && IsRevoked(who.Id)) return $"device '{who.Id}' is revoked";
        if (acl.NotOfThisSite(who) is { } elsewhere) return elsewhere;
        if (!acl.MayConnectAs(who, e.ClientId ?? string.Empty)) return $"client id '{e.ClientId}' does not belong to {who.Role.ToString().ToLowerInvariant()} '{who.Id}'";
        return null;
    }
}
