namespace EdgeMlOps.Runtime.Channels;

/// <summary>A message the broker publishes for the client when its connection is lost.</summary>
public sealed record LastWill(string Topic, byte[] Payload, bool Retain);

/// <summary>How one fleet member connects, whatever the channel. Persistent session by default (clean start off).</summary>
public sealed record FleetChannelOptions(string ClientId)
{
    public const uint DefaultSessionExpirySeconds = 3600;

    public bool CleanStart { get; init; }

    /// <summary>How long the broker keeps the session (and queued QoS 1 messages) after a disconnect.</summary>
    public uint SessionExpirySeconds { get; init; } = DefaultSessionExpirySeconds;

    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(30);

    public LastWill? Will { get; init; }
}
