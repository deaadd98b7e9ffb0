using System.Net;
using System.Net.Sockets;

namespace EdgeMlOps.Tests;

/// <summary>A broker's port that takes TCP connections and holds them open without reading or writing a byte: a hung
/// broker, a middlebox, a captive portal.</summary>
internal sealed class SilentListener : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<Socket> _held = [];
    private readonly Task _accepting;
    private int _accepted;

    private SilentListener()
    {
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>When the first connection was taken (UTC), or null.</summary>
    public DateTime? FirstAcceptedAt { get; private set; }

    public static SilentListener Start() => new();

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptSocketAsync();
                lock (_held) _held.Add(socket);
                FirstAcceptedAt ??= DateTime.UtcNow;
                Interlocked.Increment(ref _accepted);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // stopped
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        await _accepting;
        lock (_held) _held.ForEach(s => s.Dispose());
    }
}
