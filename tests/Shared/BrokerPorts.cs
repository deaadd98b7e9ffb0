using System.Net;
using System.Net.Sockets;

namespace EdgeMlOps.Tests;

/// <summary>Loopback ports for brokers the tests start (Mosquitto, MQTTnet), shared by every test project.</summary>
internal static class BrokerPorts
{
    /// <summary>A loopback port free now (brokers here take a port number, not a bound socket).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task WaitUntilListeningAsync(int port)
    {
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(25);
            }
        }

        throw new TimeoutException($"no broker listening on {port}");
    }
}
