using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Messaging;

/// <summary>
/// Stamps every message the device sends: fleet, device, a sequence that only grows within a boot, the time and the
/// boot epoch (the aggregator orders a device's messages by boot, then sequence).
/// </summary>
internal sealed class MessageHeaders(string fleet, string deviceId, ulong boot, TimeProvider time)
{
    private long _sequence;

    public Header Next() =>
        ProtocolInfo.NewHeader(fleet, deviceId, (ulong)Interlocked.Increment(ref _sequence), time.GetUtcNow().ToUnixTimeMilliseconds(), boot);
}
