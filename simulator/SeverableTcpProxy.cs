using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using EdgeMlOps.Runtime.Mqtt;

namespace EdgeMlOps.Simulator;

/// <summary>
/// A network path that can be cut (fault injection for real gateway hosts, <c>--edge-outage</c> with <c>--workers</c>):
/// a TCP relay on the loopback between a gateway host and the fleet's broker, forwarding bytes as they are (the TLS
/// session runs end to end through it). While <see cref="Severed"/>, every open connection is reset and new ones are
/// closed as soon as they are accepted — what a gateway sees when its site loses the WAN; joined again, it relays new
/// connections as before.
/// </summary>
public sealed class SeverableTcpProxy : ISeverableLink, IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly MqttEndpoint _target;
    private readonly ConcurrentDictionary<Relay, byte> _relays = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _severed;

    public SeverableTcpProxy(MqttEndpoint target)
    {
        _target = target;
        _listener.Start();
        Endpoint = target with { Host = IPAddress.Loopback.ToString(), Port = ((IPEndPoint)_listener.LocalEndpoint).Port };
        _accepting = Task.Run(AcceptAsync);
    }

    /// <summary>Where a client connects to reach the broker through this relay (same scheme, loopback, its own port).</summary>
    public MqttEndpoint Endpoint { get; }

    public bool Severed
    {
        get => Volatile.Read(ref _severed) == 1;
        set
        {
            Volatile.Write(ref _severed, value ? 1 : 0);
            if (!value) return;
            foreach (var relay in _relays.Keys) relay.Reset();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        foreach (var relay in _relays.Keys) relay.Reset();
        try
        {
            await _accepting.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            if (Severed)
            {
                client.Close(0);
                continue;
            }

            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(Socket client)
    {
        var server = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.NoDelay = true;
        var relay = new Relay(client, server);
        _relays[relay] = 0;
        try
        {
            if (Severed) return; // cut between the accept and here: the cut's reset did not see this relay
            await server.ConnectAsync(_target.Host, _target.Port, _stop.Token).ConfigureAwait(false);
            using var closing = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            await Task.WhenAny(PumpAsync(client, server, closing.Token), PumpAsync(server, client, closing.Token)).ConfigureAwait(false);
            await closing.CancelAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            _relays.TryRemove(relay, out _);
            relay.Reset();
        }
    }

    private static async Task PumpAsync(Socket from, Socket to, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0) return;
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Both sockets of one relayed connection; <see cref="Reset"/> drops them at once, as a lost path does.</summary>
    private sealed class Relay(Socket client, Socket server)
    {
        public void Reset()
        {
            client.Close(0);
            server.Close(0);
        }
    }
}
