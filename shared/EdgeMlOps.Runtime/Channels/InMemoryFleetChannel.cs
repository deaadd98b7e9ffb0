using System.Buffers;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Runtime.Channels;

/// <summary>One client connection to an <see cref="InMemoryFleetHub"/>: the in-process twin of <see cref="Mqtt.MqttTransport"/>.</summary>
public sealed partial class InMemoryFleetChannel : IFleetChannel
{
    // Set on this connection's pump: a handler that disconnects must not wait for the pump it runs on.
    private static readonly AsyncLocal<bool> OnPump = new();
    private readonly InMemoryFleetHub _hub;
    private readonly FleetChannelOptions _options;
    private readonly ILogger _logger;
    private readonly List<string> _subscriptions = new();
    private readonly object _gate = new();
    private Channel<InMemoryFleetHub.Message>? _inbox;
    private Task _pump = Task.CompletedTask;
    private volatile bool _connected;
    private bool _disposed;
    private long _bytesSent;
    private long _bytesReceived;

    internal InMemoryFleetChannel(InMemoryFleetHub hub, FleetChannelOptions options, ILogger logger)
    {
        _hub = hub;
        _options = options;
        _logger = logger;
    }

    public string ClientId => _options.ClientId;

    public bool IsConnected => _connected;

    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    public Func<string, ReadOnlySequence<byte>, Task>? MessageReceived { get; set; }

    public Func<bool, Task>? Connected { get; set; }

    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_connected) return;
        lock (_gate)
        {
            if (_hub.Delivery == InMemoryDelivery.Queued)
            {
                var inbox = Channel.CreateUnbounded<InMemoryFleetHub.Message>(new UnboundedChannelOptions { SingleReader = true });
                _inbox = inbox;
                _pump = Task.Run(() => PumpAsync(inbox.Reader), CancellationToken.None);
            }
        }

        var (present, pending) = _hub.Connect(this, _options);
        _connected = true;
        foreach (var message in pending) await DeliverAsync(message).ConfigureAwait(false);
        string[] filters;
        lock (_subscriptions) filters = _subscriptions.ToArray();
        if (filters.Length > 0) await SubscribeCoreAsync(filters).ConfigureAwait(false);
        if (Connected is { } connected) await connected(present).ConfigureAwait(false);
    }

    public Task StartAsync(CancellationToken cancellationToken) => ConnectAsync(cancellationToken);

    public async Task SubscribeAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken)
    {
        foreach (var filter in filters)
        {
            if (TopicFilter.Validate(filter) is { } error) throw new ArgumentException($"{filter}: {error}", nameof(filters));
        }

        lock (_subscriptions) _subscriptions.AddRange(filters.Except(_subscriptions));
        if (_connected) await SubscribeCoreAsync(filters).ConfigureAwait(false);
    }

    public Task UnsubscribeAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken)
    {
        lock (_subscriptions) _subscriptions.RemoveAll(filters.Contains);
        _hub.Unsubscribe(ClientId, filters);
        return Task.CompletedTask;
    }

    public async Task<bool> PublishAsync(string topic, byte[] payload, bool retain, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!_connected) throw new InvalidOperationException($"Publish to {topic} failed: {ClientId} is not connected.");
        if (topic.Length == 0 || topic.AsSpan().IndexOfAny('+', '#') >= 0) throw new ArgumentException($"'{topic}' is not a topic name.", nameof(topic));
        var taken = await _hub.PublishAsync(topic, payload, retain).ConfigureAwait(false);
        Interlocked.Add(ref _bytesSent, payload.Length);
        return taken;
    }

    public Task DisconnectAsync() => DetachAsync(publishWill: false);

    public void Abort() => _ = DetachAsync(publishWill: true);

    public async ValueTask DisposeAsync()
    {
        await DetachAsync(publishWill: false).ConfigureAwait(false);
        _disposed = true;
    }

    /// <summary>Closed by the hub (another connection took the client id over).</summary>
    internal void Close()
    {
        _connected = false;
        lock (_gate) _inbox?.Writer.TryComplete();
    }

    internal void Enqueue(InMemoryFleetHub.Message message)
    {
        lock (_gate)
        {
            if (_inbox is null || !_inbox.Writer.TryWrite(message)) LogUndelivered(ClientId, message.Topic);
        }
    }

    /// <summary>Runs the handler for one message (the pump, or the publisher in inline mode); a handler failure never reaches the sender.</summary>
    internal async Task HandleAsync(InMemoryFleetHub.Message message)
    {
        Interlocked.Add(ref _bytesReceived, message.Payload.Length);
        if (MessageReceived is not { } handler) return;
        try
        {
            await handler(message.Topic, new ReadOnlySequence<byte>(message.Payload)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogHandlerFailed(ClientId, message.Topic, ex);
        }
    }

    private Task DeliverAsync(InMemoryFleetHub.Message message)
    {
        if (_hub.Delivery == InMemoryDelivery.Inline) return HandleAsync(message);
        Enqueue(message);
        return Task.CompletedTask;
    }

    private async Task SubscribeCoreAsync(IReadOnlyList<string> filters)
    {
        foreach (var message in _hub.Subscribe(this, filters)) await DeliverAsync(message).ConfigureAwait(false);
    }

    private async Task DetachAsync(bool publishWill)
    {
        if (!_connected) return;
        _connected = false;
        var undelivered = new List<InMemoryFleetHub.Message>();
        lock (_gate)
        {
            if (_inbox is { } inbox)
            {
                inbox.Writer.TryComplete();
                while (inbox.Reader.TryRead(out var m)) undelivered.Add(m); // QoS 1: redelivered to a resumed session
            }
        }

        _hub.Disconnect(this, publishWill, undelivered);
        if (!publishWill && !OnPump.Value) await _pump.ConfigureAwait(false);
    }

    private async Task PumpAsync(ChannelReader<InMemoryFleetHub.Message> reader)
    {
        OnPump.Value = true;
        await foreach (var message in reader.ReadAllAsync().ConfigureAwait(false))
        {
            await HandleAsync(message).ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 110, Level = LogLevel.Error, Message = "In-memory client {ClientId}: handler for {Topic} failed")]
    private partial void LogHandlerFailed(string clientId, string topic, Exception exception);

    [LoggerMessage(EventId = 111, Level = LogLevel.Debug, Message = "In-memory client {ClientId}: a message on {Topic} arrived after the connection closed")]
    private partial void LogUndelivered(string clientId, string topic);
}
