using System.Net;
using System.Net.Sockets;
using EdgeMlOps.Tests;

namespace EdgeMlOps.Aggregator.Tests;

/// <summary>
/// An aggregator whose broker port or API address is taken (a second aggregator, a broker already on 8883) stops with exit
/// code 2 saying which setting and what to do. It crashed with an unhandled exception (exit code 134, a core dump).
/// </summary>
public class PortInUseAtStartTests
{
    [Theory]
    [InlineData("broker")]
    [InlineData("api")]
    public async Task ATakenPort_StopsTheStartWithExitCode2_NamingTheSetting(string taken)
    {
        var dir = Directory.CreateTempSubdirectory("edgemlops-port-").FullName;
        using var occupant = new TcpListener(IPAddress.Loopback, 0);
        occupant.Start();
        var port = ((IPEndPoint)occupant.LocalEndpoint).Port;
        try
        {
            var (code, output, errors) = await HostProcess.RunToExitAsync(HostProcess.Aggregator, dir, "--Aggregator:DataDirectory=" + Path.Combine(dir, "data"),
                taken == "broker" ? $"--Aggregator:EmbeddedBrokerPort={port}" : "--Aggregator:EmbeddedBrokerPort=0",
                taken == "api" ? $"--Aggregator:HttpUrl=https://127.0.0.1:{port}" : "--Aggregator:HttpUrl=https://127.0.0.1:0");

            Assert.Equal(2, code);
            Assert.Contains(taken == "broker" ? $"Aggregator:EmbeddedBrokerPort: 127.0.0.1:{port} is already in use" : $"Aggregator:HttpUrl: https://127.0.0.1:{port} is already in use", errors, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled exception", output + errors, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
