using EdgeMlOps.Runtime.Channels;

namespace EdgeMlOps.Runtime.Mqtt;

/// <summary>How one MQTT 5 client connects. Persistent session by default (clean start off).</summary>
public sealed record MqttTransportOptions(string ClientId, MqttEndpoint Endpoint)
{
    public bool CleanStart { get; init; }

    /// <summary>How long the broker keeps the session (and queued QoS 1 messages) after a disconnect.</summary>
    public uint SessionExpirySeconds { get; init; } = FleetChannelOptions.DefaultSessionExpirySeconds;

    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a QoS 1 publish waits for the broker's acknowledgement, plus a second per KiB of payload (a 400 KB update
    /// on an 8 kbit/s uplink still goes). A broker that keeps the connection and never acknowledges fails the publish
    /// with a <see cref="TimeoutException"/> instead of holding its sender for good.
    /// </summary>
    public TimeSpan AcknowledgeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public LastWill? Will { get; init; }

    /// <summary>Fleet CA and client certificate; required when <see cref="MqttEndpoint.Tls"/> is set.</summary>
    public MqttTlsSettings? Tls { get; init; }

    /// <summary>First reconnect delay; doubles per failure up to <see cref="MaxReconnectDelay"/>, with full jitter.</summary>
    public TimeSpan MinReconnectDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan MaxReconnectDelay { get; init; } = TimeSpan.FromSeconds(30);
}
