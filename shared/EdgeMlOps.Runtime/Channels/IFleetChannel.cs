using System.Buffers;

namespace EdgeMlOps.Runtime.Channels;

/// <summary>
/// The seam between a fleet member (agent or aggregator) and the wire: one publish/subscribe
/// connection with MQTT 5 semantics (QoS 1, retained messages, Last Will, persistent sessions).
/// <see cref="Mqtt.MqttTransport"/> is the shipped implementation; <see cref="InMemoryFleetChannel"/>
/// runs the same agents and aggregator in one process without sockets.
/// </summary>
public interface IFleetChannel : IAsyncDisposable
{
    string ClientId { get; }

    bool IsConnected { get; }

    long BytesSent { get; }

    long BytesReceived { get; }

    /// <summary>Called for every received publish, in arrival order for this connection.</summary>
    Func<string, ReadOnlySequence<byte>, Task>? MessageReceived { get; set; }

    /// <summary>Called after every successful (re)connection, once subscriptions are restored; the argument says whether the session was resumed.</summary>
    Func<bool, Task>? Connected { get; set; }

    /// <summary>Connects now or throws.</summary>
    Task ConnectAsync(CancellationToken cancellationToken);

    /// <summary>Connects if possible; otherwise keeps trying in the background and returns at once.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Adds topic filters (restored on every reconnection).</summary>
    Task SubscribeAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken);

    /// <summary>
    /// Removes topic filters, from this channel and from the broker's session (a persistent session keeps the
    /// subscriptions of an earlier run: what the member no longer wants must be removed, not just not asked for again).
    /// </summary>
    Task UnsubscribeAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken);

    /// <summary>
    /// Publishes at least once and returns when the broker has it: true when at least one session (connected, or
    /// persistent and away) took the message, false when the broker reported that no one is subscribed (MQTT 5's
    /// PUBACK 0x10, "no matching subscribers") — then the message reached nobody, and a sender that must not lose it
    /// keeps it and tries again later.
    /// </summary>
    Task<bool> PublishAsync(string topic, byte[] payload, bool retain, CancellationToken cancellationToken);

    /// <summary>Disconnects normally: the broker discards the Last Will.</summary>
    Task DisconnectAsync();

    /// <summary>Drops the connection without a goodbye: the broker publishes the Last Will.</summary>
    void Abort();
}
