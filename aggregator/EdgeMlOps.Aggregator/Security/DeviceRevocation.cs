using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Governance;

namespace EdgeMlOps.Aggregator.Security;

/// <summary>
/// Revokes a device's identity at once — connection dropped, no reconnection, no new certificate, out of the device
/// directory — audits it, and publishes the fleet's signed revocation list: an edge gateway drops the device from its
/// site's broker and refuses it there from then on (and until the gateway has the list, the aggregator refuses whatever
/// a gateway relays for it, so it is never eligible, never tasked, and its gateway never folds its update). An open round
/// stops waiting for it; an update it sent before the revocation stands (it was authenticated when it arrived). Its
/// retained status is cleared on the broker.
/// </summary>
public sealed class DeviceRevocation(FleetSecurity security, DeviceDirectory devices, Rounds.OpenRounds rounds, AuditLog audit, FleetAnnouncer announcer, FleetPublisher publisher, Shared.Protocol.Topics topics, TimeProvider time)
{
    public async Task RevokeAsync(string deviceId, string reason, string actor)
    {
        if (!Shared.Protocol.Topics.IsValidSegment(deviceId)) throw new ArgumentException($"'{deviceId}' is not a device id");
        await security.RevokeAsync(deviceId, reason, actor).ConfigureAwait(false);
        devices.Remove(deviceId);
        rounds.Withdraw(deviceId); // selected in the open round and not yet reported: it never will, so the round does not wait for it
        audit.Append(time.GetUtcNow(), actor, "device.revoke", "devices/" + deviceId, reason, null, "revoked");
        try
        {
            await announcer.PublishRevocationsAsync(CancellationToken.None).ConfigureAwait(false);
            // Its retained status would be read back, and refused, at every start of the aggregator.
            await publisher.ClearRetainedAsync(topics.Status(deviceId), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or MQTTnet.Exceptions.MqttCommunicationException)
        {
            // The broker is out of reach: the list is kept with the fleet's retained statements and goes out on reconnection.
        }
    }
}
