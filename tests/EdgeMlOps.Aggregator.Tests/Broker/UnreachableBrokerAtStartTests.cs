using EdgeMlOps.Tests;

namespace EdgeMlOps.Aggregator.Tests.Broker;

/// <summary>
/// An aggregator whose external broker cannot be reached at start — refused, or taking the connection and never
/// answering — stops with exit code 2 naming the broker and why, as for a store it cannot open. It crashed with an
/// unhandled exception (exit code 134, a core dump and a stack trace).
/// </summary>
public class UnreachableBrokerAtStartTests
{
    [Theory]
    [InlineData(false)] // nothing listens: refused
    [InlineData(true)] // takes the connection and never answers the TLS handshake
    public async Task TheStart_StopsWithExitCode2_NamingTheBroker(bool silent)
    {
        var dir = Directory.CreateTempSubdirectory("edgemlops-nobroker-").FullName;
        await using var listener = silent ? SilentListener.Start() : null;
        var port = listener?.Port ?? BrokerPorts.Free();
        try
        {
            var (code, output, errors) = await HostProcess.RunToExitAsync(HostProcess.Aggregator, dir, "--Aggregator:HttpUrl=http://127.0.0.1:0",
                $"--Aggregator:Broker=mqtts://127.0.0.1:{port}", "--Aggregator:BrokerStartupWaitSeconds=0", "--Aggregator:DataDirectory=" + Path.Combine(dir, "data"));

            Assert.Equal(2, code);
            Assert.Contains($"Aggregator:Broker: mqtts://127.0.0.1:{port} cannot be reached at start", errors, StringComparison.Ordinal);
            Assert.Contains(silent ? "did not answer" : "onnect", errors, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled exception", output + errors, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
