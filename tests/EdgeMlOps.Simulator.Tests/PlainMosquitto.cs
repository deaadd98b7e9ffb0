using System.Diagnostics;
using System.Globalization;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>Debian's Mosquitto on a free loopback port with its defaults (plain TCP, anonymous): a fleet's external broker in development.</summary>
internal sealed class PlainMosquitto : IAsyncDisposable
{
    private readonly Process _process;

    private PlainMosquitto(Process process, int port) => (_process, Port) = (process, port);

    public int Port { get; }

    /// <summary>The simulator's <c>--broker</c> for it.</summary>
    public string Url => $"mqtt://127.0.0.1:{Port}";

    public static async Task<PlainMosquitto> StartAsync()
    {
        Assert.True(File.Exists(SecuredMosquitto.Path), "mosquitto is not installed (apt-get install mosquitto; .ci/run does this)");
        var port = BrokerPorts.Free();
        var process = Process.Start(new ProcessStartInfo(SecuredMosquitto.Path, ["-p", port.ToString(CultureInfo.InvariantCulture)])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        await BrokerPorts.WaitUntilListeningAsync(port);
        return new PlainMosquitto(process, port);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
