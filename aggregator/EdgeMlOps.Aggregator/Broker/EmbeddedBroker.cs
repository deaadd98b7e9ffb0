using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Aggregator.Security;
using Microsoft.Extensions.Logging;
using MQTTnet.Server;

namespace EdgeMlOps.Aggregator.Broker;

/// <summary>The embedded broker's TLS listener: its certificate and the guard that authenticates and authorizes clients.</summary>
/// <summary>The embedded broker's TLS: its certificate, the guard that checks clients, and how long a handshake may take.</summary>
public sealed record BrokerTls(X509Certificate2 ServerCertificate, BrokerGuard Guard, TimeSpan HandshakeTimeout, int MaxPendingHandshakes = Security.SecurityOptions.DefaultMaxPendingTlsHandshakes);

/// <summary>
/// The default broker: MQTTnet.Server in the aggregator's process, listening on TLS with client
/// certificates from the fleet CA, a packet limit per identity (<see cref="TlsMqttListener"/>) and a topic ACL
/// (<see cref="BrokerGuard"/>), or on plain TCP
/// without any authentication when a developer explicitly allows it. Its per-client queue is
/// raised well above MQTTnet's default of 250 (which silently drops under load) and every drop
/// is counted. For fleets beyond one process, point the aggregator at an external broker.
/// </summary>
public sealed partial class EmbeddedBroker : IAsyncDisposable
{
    private readonly MqttServer _server;
    private readonly ILogger _logger;
    private long _dropped;
    private int _connected;

    /// <param name="port">Listening port (0: a free one).</param>
    /// <param name="bindAddress">Interface to listen on.</param>
    /// <param name="logger">Where start-up and drops are logged.</param>
    /// <param name="tls">Certificate and guard for the TLS listener; null listens on plain TCP with no authentication (development only).</param>
    /// <param name="maxPendingMessagesPerClient">Messages queued per client before the broker drops (and counts) them.</param>
    public EmbeddedBroker(int port, IPAddress bindAddress, ILogger logger, BrokerTls? tls, int maxPendingMessagesPerClient = 100_000)
    {
        Port = port == 0 ? FreePort() : port;
        _logger = logger;
        Tls = tls;
        var builder = new MqttServerOptionsBuilder()
            .WithPersistentSessions()
            .WithMaxPendingMessagesPerClient(maxPendingMessagesPerClient)
            .WithConnectionBacklog(4096);
        BindAddress = bindAddress;
        // TLS goes through the broker's own listener: the same handshake as MQTTnet's, plus a packet limit per identity
        // enforced as packets are read (MQTTnet's listener has none).
        _server = tls is null
            ? new MqttServerFactory().CreateMqttServer(builder.WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(bindAddress).WithDefaultEndpointPort(Port).Build())
            : new MqttServerFactory().CreateMqttServer(builder.WithoutDefaultEndpoint().Build(), [new TlsMqttListener(bindAddress, Port, tls)]);
        if (tls is not null)
        {
            _server.ValidatingConnectionAsync += tls.Guard.ValidateConnectionAsync;
            _server.InterceptingPublishAsync += tls.Guard.InterceptPublishAsync;
            _server.InterceptingSubscriptionAsync += tls.Guard.InterceptSubscriptionAsync;
            _server.ClientDisconnectedAsync += tls.Guard.ClientDisconnectedAsync;
        }

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

    /// <summary>The TLS listener's settings, or null when the broker runs plain TCP.</summary>
    public BrokerTls? Tls { get; }

    /// <summary>Drops the connection of a client at once (a revoked device); its certificate is refused from then on by the guard.</summary>
    public async Task DisconnectAsync(string clientId)
    {
        try
        {
            await _server.DisconnectClientAsync(clientId, new MqttServerClientDisconnectOptions { ReasonCode = MQTTnet.Protocol.MqttDisconnectReasonCode.NotAuthorized, ReasonString = "revoked" }).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // Not connected: nothing to drop.
        }
    }

    /// <summary>Messages the broker dropped because a client's queue was full.</summary>
    public long DroppedMessages => Interlocked.Read(ref _dropped);

    public int ConnectedClients => Volatile.Read(ref _connected);

    public async Task StartAsync()
    {
        await _server.StartAsync().ConfigureAwait(false);
        if (Tls is null) LogStartedPlain(BindAddress, Port);
        else LogStarted(BindAddress, Port);
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

    [LoggerMessage(EventId = 2100, Level = LogLevel.Information, Message = "Embedded MQTT broker listening on TLS {Address}:{Port}: fleet client certificates and topic ACL required")]
    private partial void LogStarted(IPAddress address, int port);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "INSECURE: embedded MQTT broker listening on PLAIN TCP {Address}:{Port} with NO authentication (Security:AllowPlaintext). Anyone who can reach it can read and impersonate the fleet. Development only.")]
    private partial void LogStartedPlain(IPAddress address, int port);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "Embedded broker dropped a message for {ClientId}: its queue is full (further drops are only counted)")]
    private partial void LogFirstDrop(string clientId);
}
