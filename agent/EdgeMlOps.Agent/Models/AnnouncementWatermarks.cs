namespace EdgeMlOps.Agent.Models;

/// <summary>
/// Two values that only move forward: the newest version the fleet announced (an older retained announcement is a
/// replay) and until when the newest verified signed manifest is valid (past it, the device is behind).
/// </summary>
internal sealed class AnnouncementWatermarks
{
    private long _newestAnnounced;
    private long _freshUntilMs;

    public ulong NewestAnnounced => (ulong)Interlocked.Read(ref _newestAnnounced);

    public long FreshUntilUnixMs => Interlocked.Read(ref _freshUntilMs);

    public DateTimeOffset? FreshUntil => EdgeMlOps.Shared.Protocol.WireTime.Stated(FreshUntilUnixMs);

    public void RaiseNewestAnnounced(ulong version) => Raise(ref _newestAnnounced, (long)Math.Min(version, long.MaxValue));

    public void RaiseFreshUntil(long expiresUnixMs) => Raise(ref _freshUntilMs, expiresUnixMs);

    private static void Raise(ref long field, long value)
    {
        var seen = Interlocked.Read(ref field);
        while (value > seen && Interlocked.CompareExchange(ref field, value, seen) != seen) seen = Interlocked.Read(ref field);
    }
}
