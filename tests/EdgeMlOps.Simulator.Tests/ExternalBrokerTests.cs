using System.Diagnostics;
using EdgeMlOps.Aggregator.Broker;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// The same fleet against an external broker (Debian's Mosquitto 2), as in a scaled-out deployment.
/// <c>.ci/run</c> installs mosquitto; the test starts its own instance on a free loopback port.
/// </summary>
[Collection(FleetCollection.Name)]
public class ExternalBrokerTests
{
    private const string MosquittoPath = "/usr/sbin/mosquitto";

    [Fact]
    public async Task Fleet_OverExternalMosquitto_CompletesRounds()
    {
        Assert.True(File.Exists(MosquittoPath), "mosquitto is not installed (apt-get install mosquitto; .ci/run does this)");
        var port = EmbeddedBroker.FreePort();
        using var mosquitto = Process.Start(new ProcessStartInfo(MosquittoPath, ["-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        try
        {
            await WaitForPortAsync(port);
            var options = SimulationOptions.Parse([
                "--dataset", "synthetic", "--devices", "15", "--rounds", "2", "--fraction", "0.4", "--hidden", "8",
                "--broker", $"mqtt://127.0.0.1:{port}", "--out", "-"]);
            var result = await new SimulationRunner(options).RunAsync(CancellationToken.None);

            Assert.All(result.Rounds, r =>
            {
                Assert.Equal("Completed", r.Status);
                Assert.Equal(6, r.Participants);
            });
            Assert.Equal(15, result.DevicesOnline);
            Assert.True(result.Rounds[^1].Accuracy > 0.3);
        }
        finally
        {
            mosquitto.Kill();
            await mosquitto.WaitForExitAsync();
        }
    }

    private static async Task WaitForPortAsync(int port)
    {
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var client = new System.Net.Sockets.TcpClient();
                await client.ConnectAsync(System.Net.IPAddress.Loopback, port);
                return;
            }
            catch (System.Net.Sockets.SocketException)
            {
                await Task.Delay(50);
            }
        }

        throw new TimeoutException($"mosquitto did not listen on {port}");
    }
}
