using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using MQTTnet.Adapter;
using MQTTnet.Diagnostics.Logger;
using MQTTnet.Formatter;
using MQTTnet.Implementations;
using MQTTnet.Server;

namespace EdgeMlOps.Aggregator.Broker;

/// <summary>
/// The embedded broker's TLS endpoint, in place of MQTTnet's own: the same handshake (the fleet certificate, a client
/// certificate required and checked by the guard, TLS 1.2/1.3), and underneath MQTTnet's reader a packet limit chosen
/// per identity after the handshake (<see cref="PacketLimitChannel"/>), which MQTTnet's listener cannot take.
/// </summary>
internal sealed class TlsMqttListener(IPAddress address, int port, BrokerTls tls) : IMqttServerAdapter
{
    private readonly CancellationTokenSource _stopping = new();
    // Built once: given the bare certificate, every handshake would build the server's chain again.
    private readonly SslStreamCertificateContext _certificate = SslStreamCertificateContext.Create(tls.ServerCertificate, additionalCertificates: null, offline: true);
    private TcpListener? _listener;
    private Task? _accepting;
    private int _pendingHandshakes;

    public Func<IMqttChannelAdapter, Task>? ClientHandler { get; set; }

    public Task StartAsync(MqttServerOptions options, IMqttNetLogger logger)
    {
        _listener = new TcpListener(address, port);
        _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Start(4096);
        _accepting = Task.Run(() => AcceptAsync(options, logger));
        return Task.CompletedTask;
    }

    public async Task StopAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Stop();
        if (_accepting is not null) await _accepting.ConfigureAwait(false);
    }

    public void Dispose()
    {
        _listener?.Dispose();
        _stopping.Dispose();
    }

    private async Task AcceptAsync(MqttServerOptions options, IMqttNetLogger logger)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener!.AcceptSocketAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stopping.IsCancellationRequested) return;
                continue;
            }

            _ = Task.Run(() => ServeAsync(socket, options, logger));
        }
    }

    private async Task ServeAsync(Socket socket, MqttServerOptions options, IMqttNetLogger logger)
    {
        socket.NoDelay = true;
        if (Interlocked.Increment(ref _pendingHandshakes) > tls.MaxPendingHandshakes)
        {
            Interlocked.Decrement(ref _pendingHandshakes);
            tls.Guard.HandshakesAtCap(socket.RemoteEndPoint, tls.MaxPendingHandshakes);
            socket.Dispose();
            return;
        }

        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false, tls.Guard.ValidateClientCertificate);
        try
        {
            bool completed;
            try
            {
                completed = await HandshakeAsync(ssl).ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref _pendingHandshakes);
            }

            if (!completed)
            {
                tls.Guard.HandshakeTimedOut(socket.RemoteEndPoint, tls.HandshakeTimeout);
                return;
            }

            using var certificate = ssl.RemoteCertificate is { } remote ? new X509Certificate2(remote) : null;
            var limit = tls.Guard.MaxPacketBytes(certificate);
            var channel = new PacketLimitChannel(
                new MqttTcpChannel(ssl, socket.LocalEndPoint!, socket.RemoteEndPoint!, certificate!),
                new MqttFrameScanner(limit),
                size => tls.Guard.PacketRefused(certificate, size, limit));
            using var adapter = new MqttChannelAdapter(channel, new MqttPacketFormatterAdapter(new MqttBufferWriter(options.WriterBufferSize, options.WriterBufferSizeMax)), logger);
            if (ClientHandler is { } handler) await handler(adapter).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // A failed handshake is recorded by the guard's certificate check; a dropped connection ends the session.
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Whatever one client's connection runs into ends that connection only (MQTTnet's session logs its own errors).
        }
        finally
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The server's side of the handshake; false when the client did not complete it within the configured time.</summary>
    private async Task<bool> HandshakeAsync(SslStream ssl)
    {
        using var handshake = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        handshake.CancelAfter(tls.HandshakeTimeout);
        try
        {
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = _certificate,
                ClientCertificateRequired = true,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            }, handshake.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
        {
            return false;
        }
    }
}
