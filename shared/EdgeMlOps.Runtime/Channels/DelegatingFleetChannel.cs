using System.Buffers;

namespace EdgeMlOps.Runtime.Channels;

/// <summary>
/// A channel decorator's base: passes every member through to the channel it wraps, so a decorator (the simulator's
/// faults, a test's hostile relay) states only what it changes — which received messages reach the fleet member above
/// (<see cref="Delivers"/>) and what a publish does (<see cref="PublishAsync"/>).
/// </summary>
public abstract class DelegatingFleetChannel(IFleetChannel inner) : IFleetChannel
{
    private Func<string, ReadOnlySequence<byte>, Task>? _received;

    public string ClientId => inner.ClientId;

    public bool IsConnected => inner.IsConnected;

    public long BytesSent => inner.BytesSent;

    public long BytesReceived => inner.BytesReceived;

    public Func<string, ReadOnlySequence<byte>, Task>? MessageReceived
    {
        get => _received;
        set
        {
            _received = value;
            inner.MessageReceived = value is null ? null : (topic, payload) => Delivers(topic, payload) ? value(topic, payload) : Task.CompletedTask;
        }
    }

    public Func<bool, Task>? Connected
    {
        get => inner.Connected;
        set => inner.Connected = value;
    }

    public Task ConnectAsync(CancellationToken cancellationToken) => inner.ConnectAsync(cancellationToken);

    public Task StartAsync(CancellationToken cancellationToken) => inner.StartAsync(cancellationToken);

    public Task SubscribeAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken) => inner.SubscribeAsync(filters, cancellationToken);

    public Task UnsubscribeAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken) => inner.UnsubscribeAsync(filters, cancellationToken);

    public virtual Task<bool> PublishAsync(string topic, byte[] payload, bool retain, CancellationToken cancellationToken) =>
        inner.PublishAsync(topic, payload, retain, cancellationToken);

    public Task DisconnectAsync() => inner.DisconnectAsync();

    public void Abort() => inner.Abort();

    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return inner.DisposeAsync();
    }

    /// <summary>Whether a received message is handed to the fleet member above; a dropped one is gone, as on a lossy link.</summary>
    protected virtual bool Delivers(string topic, ReadOnlySequence<byte> payload) => true;
}
