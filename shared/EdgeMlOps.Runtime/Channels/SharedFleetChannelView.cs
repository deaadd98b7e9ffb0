using System.Buffers;

namespace EdgeMlOps.Runtime.Channels;

/// <summary>
/// One agent's side of a <see cref="SharedFleetChannel"/>: its subscriptions (messages reach it only for filters it
/// added), its handlers, and — for the owner alone — the connection's life. A line's view starting on a connection
/// that is already up hears <see cref="Connected"/> at once, as if it had connected itself; disposing it removes the
/// filters no other view wants.
/// </summary>
public sealed class SharedFleetChannelView : IFleetChannel
{
    private readonly SharedFleetChannel _shared;
    private readonly IFleetChannel _connection;
    private readonly bool _owner;
    private readonly Lock _gate = new();
    private readonly HashSet<string> _filters = new(StringComparer.Ordinal);
    private bool _disposed;

    internal SharedFleetChannelView(SharedFleetChannel shared, IFleetChannel connection, bool owner)
    {
        _shared = shared;
        _connection = connection;
        _owner = owner;
    }

    public string ClientId => _connection.ClientId;

    public bool IsConnected => _connection.IsConnected;

    public long BytesSent => _connection.BytesSent;

    public long BytesReceived => _connection.BytesReceived;

    public Func<string, ReadOnlySequence<byte>, Task>? MessageReceived { get; set; }

    public Func<bool, Task>? Connected { get; set; }

    internal bool Wants(string filter)
    {
        lock (_gate) return _filters.Contains(filter);
    }

    /// <summary>The connection's owner: it also hears what no view subscribed to (its session's earlier subscriptions).</summary>
    internal bool IsOwner => _owner;

    internal bool Matches(string topic)
    {
        lock (_gate) return !_disposed && _filters.Any(f => TopicFilter.Matches(TopicFilter.TryParseShared(f, out _, out var inner) ? inner : f, topic));
    }

    public Task ConnectAsync(CancellationToken cancellationToken) => _owner ? _connection.ConnectAsync(cancellationToken) : JoinAsync();

    public Task StartAsync(CancellationToken cancellationToken) => _owner ? _connection.StartAsync(cancellationToken) : JoinAsync();

    public async Task SubscribeAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken)
    {
        lock (_gate) _filters.UnionWith(filters);
        await _connection.SubscribeAsync(filters, cancellationToken).ConfigureAwait(false);
    }

    public async Task UnsubscribeAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken)
    {
        lock (_gate) _filters.ExceptWith(filters);
        var unwanted = _shared.Unwanted(this, filters);
        if (unwanted.Count > 0) await _connection.UnsubscribeAsync(unwanted, cancellationToken).ConfigureAwait(false);
    }

    public Task<bool> PublishAsync(string topic, byte[] payload, bool retain, CancellationToken cancellationToken) =>
        _connection.PublishAsync(topic, payload, retain, cancellationToken);

    /// <summary>The owner disconnects (the Last Will is discarded); a line's view leaves the connection up for the others.</summary>
    public Task DisconnectAsync() => _owner ? _connection.DisconnectAsync() : Task.CompletedTask;

    /// <summary>The owner drops the connection (the broker publishes its Last Will); a line's view cannot.</summary>
    public void Abort()
    {
        if (_owner) _connection.Abort();
    }

    public async ValueTask DisposeAsync()
    {
        string[] filters;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            filters = [.. _filters];
        }

        if (_owner)
        {
            _shared.Detach(this);
            await _connection.DisposeAsync().ConfigureAwait(false);
            return;
        }

        var unwanted = _shared.Unwanted(this, filters);
        _shared.Detach(this);
        if (unwanted.Count > 0 && _connection.IsConnected)
        {
            try
            {
                await _connection.UnsubscribeAsync(unwanted, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The connection went down meanwhile: the filters go with the next clean session, and no view hears them.
            }
        }
    }

    /// <summary>A line's view on a connection already up hears the connection at once (its agent announces itself).</summary>
    private async Task JoinAsync()
    {
        if (_connection.IsConnected && Connected is { } handler) await handler(true).ConfigureAwait(false);
    }
}
