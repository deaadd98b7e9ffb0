using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using MQTTnet.Server;

namespace EdgeMlOps.Aggregator.Broker;

/// <summary>
/// The default broker: MQTTnet.Server in the aggregator's process. Its per-client queue is
/// raised well above MQTTnet's default of 250 (which silently drops under load) and every drop
/// is counted. For fleets beyond one process, point the aggregator at an external broker.
/// </summary>
public sealed partial class EmbeddedBroker : IAsyncDisposable
{
    private readonly MqttServer _server;
    private readonly ILogger _logger;
    private long _dropped;
    private int _connected;

    public EmbeddedBroker(int port, IPAddress bindAddress, ILogger logger, int maxPendingMessagesPerClient = 100_000)
    {
        Port = port == 0 ? FreePort() : port;
        _logger = logger;
        var options = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(bindAddress)
            .WithDefaultEndpointPort(Port)
            .WithPersistentSessions()
            .WithMaxPendingMessagesPerClient(maxPendingMessagesPerClient)
            .WithConnectionBacklog(4096)
            .Build();
        BindAddress = bindAddress;
        _server = new MqttServerFactory().CreateMqttServer(options);
        _server.ApplicationMessageEnqueuedOrDroppedAsync += e =>
        {
            if (e.IsDropped && Interlocked.Increment(ref _dropped) == 1) LogFirstDrop(e.ReceiverClientId);
            return Task.CompletedTask;
        };
        _server.ClientConnectedAsync += _ => { Interlocked.Increment(ref _connected); return Task.CompletedTask; };
        _server.ClientDisconnectedAsync += _ => { Interlocked.Decrement(ref _connected); return Task.CompletedTask; };
    }

    public int Port { get; }

    public IPAddress BindAddress { get; }

    /// <summary>Messages the broker dropped because a client's queue was full.</summary>
    public long DroppedMessages => Interlocked.Read(ref _dropped);

    public int ConnectedClients => Volatile.Read(ref _connected);

    /// <summary>Starts listening (plain TCP; put a TLS-terminating broker or proxy in front for devices off the host).</summary>
    public async Task StartAsync()
    {
        await _server.StartAsync().ConfigureAwait(false);
        LogStarted(BindAddress, Port);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.StopAsync(new MqttServerStopOptions()).ConfigureAwait(false);
        _server.Dispose();
    }

    /// <summary>A currently free loopback TCP port (for tests and simulations).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [LoggerMessage(EventId = 2100, Level = LogLevel.Information, Message = "Embedded MQTT broker listening on {Address}:{Port}")]
    private partial void LogStarted(IPAddress address, int port);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "Embedded broker dropped a message for {ClientId}: its queue is full (further drops are only counted)")]
    private partial void LogFirstDrop(string clientId);
}
