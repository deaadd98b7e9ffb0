using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Shared.Protocol;

/// <summary>Protocol constants and the header every message carries.</summary>
public static class ProtocolInfo
{
    /// <summary>The wire protocol version this build speaks.</summary>
    public const uint CurrentVersion = 1;

    /// <summary>Largest MQTT payload either side accepts (a 784-128-10 fp32 delta is ~400 KB).</summary>
    public const int MaxPayloadBytes = 16 * 1024 * 1024;

    public static Header NewHeader(string fleet, string senderId, ulong sequence, long sentAtUnixMs, ulong boot = 0) => new()
    {
        Boot = boot,
        ProtocolVersion = CurrentVersion,
        Fleet = fleet,
        SenderId = senderId,
        Sequence = sequence,
        SentAtUnixMs = sentAtUnixMs,
        MessageId = boot == 0 ? $"{senderId}:{sentAtUnixMs:x}:{sequence}" : $"{senderId}:{boot:x}:{sentAtUnixMs:x}:{sequence}",
    };
}
