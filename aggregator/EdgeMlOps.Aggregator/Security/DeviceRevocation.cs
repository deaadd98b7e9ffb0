using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Governance;

namespace EdgeMlOps.Aggregator.Security;

/// <summary>Revokes a device's identity at once — connection dropped, no reconnection, no new certificate — and audits it.</summary>
public sealed class DeviceRevocation(FleetSecurity security, FleetTraffic traffic, AuditLog audit, TimeProvider time)
{
    public async Task RevokeAsync(string deviceId, string reason, string actor)
    {
        if (!Shared.Protocol.Topics.IsValidSegment(deviceId)) throw new ArgumentException($"'{deviceId}' is not a device id");
        await security.RevokeAsync(deviceId, reason, actor, traffic.Broker).ConfigureAwait(false);
        audit.Append(time.GetUtcNow(), actor, "device.revoke", "devices/" + deviceId, reason, null, "revoked");
    }
}
