using System.Net;
using System.Net.Sockets;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A loopback TCP forwarder the test can cut and restore, or slow down: a real network outage or latency spike
/// between one device and the broker, while everything else stays up.
/// </summary>
internal sealed class TcpFaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly List<TcpClient> _open = new();
    private readonly CancellationTokenSource _stop = new();
    private volatile bool _cut;
    private long _delayTicks;

    public TcpFaultProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        _ = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Drops every open connection and refuses new ones until <see cref="Restore"/>.</summary>
    public void Cut()
    {
        _cut = true;
        lock (_open)
        {
            foreach (var c in _open) c.Dispose();
            _open.Clear();
        }
    }

    public void Restore() => _cut = false;

    /// <summary>Every chunk, in both directions, waits this long before it is forwarded (zero: none).</summary>
    public TimeSpan Delay
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _delayTicks));
        set => Interlocked.Exchange(ref _delayTicks, value.Ticks);
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        Cut();
        return ValueTask.CompletedTask;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }

            if (_cut)
            {
                inbound.Dispose();
                continue;
            }

            var outbound = new TcpClient();
            try
            {
                await outbound.ConnectAsync(IPAddress.Loopback, _targetPort);
            }
            catch (SocketException)
            {
                inbound.Dispose();
                outbound.Dispose();
                continue;
            }

            lock (_open)
            {
                _open.Add(inbound);
                _open.Add(outbound);
            }

            _ = PumpAsync(inbound, outbound, this);
            _ = PumpAsync(outbound, inbound, this);
        }
    }

    private static async Task PumpAsync(TcpClient from, TcpClient to, TcpFaultProxy proxy)
    {
        try
        {
            var buffer = new byte[16 * 1024];
            var (source, sink) = (from.GetStream(), to.GetStream());
            int read;
            while ((read = await source.ReadAsync(buffer)) > 0)
            {
                if (proxy.Delay is { Ticks: > 0 } delay) await Task.Delay(delay);
                await sink.WriteAsync(buffer.AsMemory(0, read));
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
        }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }
}
