using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Governance;

namespace EdgeMlOps.Aggregator.Security;

/// <summary>
/// Revokes a device's identity at once — connection dropped, no reconnection, no new certificate, out of the device
/// directory (a device behind an edge gateway stays connected to its site's broker: the aggregator refuses whatever the
/// gateway relays for it, so it is never eligible, never tasked, and its gateway never folds its update) — and audits it.
/// </summary>
public sealed class DeviceRevocation(FleetSecurity security, FleetTraffic traffic, DeviceDirectory devices, AuditLog audit, TimeProvider time)
{
    public async Task RevokeAsync(string deviceId, string reason, string actor)
    {
        if (!Shared.Protocol.Topics.IsValidSegment(deviceId)) throw new ArgumentException($"'{deviceId}' is not a device id");
        await security.RevokeAsync(deviceId, reason, actor, traffic.Broker).ConfigureAwait(false);
        devices.Remove(deviceId);
        audit.Append(time.GetUtcNow(), actor, "device.revoke", "devices/" + deviceId, reason, null, "revoked");
    }
}
