using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Shared.Protocol;

/// <summary>
/// Decides whether a device's status message supersedes the one last applied. Sequences restart at
/// every boot, so messages are ordered by (boot, sequence): a clean restart's first status is newer
/// than the previous run's goodbye even though its sequence is smaller.
/// </summary>
public static class PresenceOrder
{
    /// <summary>True if <paramref name="incoming"/> should replace a status from (<paramref name="lastBoot"/>, <paramref name="lastSequence"/>).</summary>
    public static bool Supersedes(Header incoming, DeviceState state, ulong lastBoot, ulong lastSequence)
    {
        if (incoming.Boot != lastBoot) return incoming.Boot > lastBoot;

        // The Last Will carries the sequence of the connect that registered it (the first of its boot):
        // within its boot it always wins, since the broker sends it only once that connection is gone.
        if (state == DeviceState.Lost) return true;

        // A sender without a boot epoch (boot 0, an older agent) restarts at sequence 1.
        return incoming.Sequence > lastSequence || (incoming.Boot == 0 && incoming.Sequence == 1);
    }
}
