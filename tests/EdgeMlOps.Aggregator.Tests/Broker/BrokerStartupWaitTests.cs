using System.Diagnostics;
using System.Net;
using EdgeMlOps.Tests;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace EdgeMlOps.Aggregator.Tests.Broker;

/// <summary>
/// An aggregator started beside its broker (a compose file, two units started together, a broker failing over) waits
/// for it, as it waits for PostgreSQL: its first connection is tried again with growing pauses for
/// <c>Aggregator:BrokerStartupWaitSeconds</c>, and only then does the start stop with exit code 2. A broker that answers
/// and refuses the aggregator is not waited for. Before, a broker up a second later stopped the start.
/// </summary>
public sealed class BrokerStartupWaitTests : IDisposable
{
    private readonly string _work = AggregatorFixture.TempDirectory();

    public void Dispose()
    {
        if (Directory.Exists(_work)) Directory.Delete(_work, recursive: true);
    }

    private string[] Settings(int brokerPort, params string[] more) =>
    [
        "--Aggregator:DataDirectory=" + Path.Combine(_work, "data"), $"--Aggregator:Broker=mqtt://127.0.0.1:{brokerPort}",
        "--Aggregator:Security:AllowPlaintext=true", "--Aggregator:HttpUrl=https://127.0.0.1:0", .. more,
    ];

    private static MqttServer Broker(int port, bool refuseEveryone = false)
    {
        var server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(IPAddress.Loopback).WithDefaultEndpointPort(port).Build());
        if (refuseEveryone)
        {
            server.ValidatingConnectionAsync += e =>
            {
                e.ReasonCode = MqttConnectReasonCode.NotAuthorized;
                return Task.CompletedTask;
            };
        }

        return server;
    }

    [Fact]
    public async Task ABrokerThatComesUpAfterTheAggregator_IsWaitedFor_AndTheStartGoesOn()
    {
        var port = BrokerPorts.Free();
        using var aggregator = new HostProcess(HostProcess.Aggregator, _work, Settings(port));
        await aggregator.WaitForAsync("not reachable yet");
        using var broker = Broker(port);
        await broker.StartAsync();
        try
        {
            await aggregator.WaitForAsync("Aggregator for fleet");
        }
        finally
        {
            await broker.StopAsync();
        }
    }

    [Fact]
    public async Task ABrokerThatStaysAway_StopsTheStartWithExitCode2_OnceTheWaitIsOver()
    {
        var clock = Stopwatch.StartNew();
        var (code, output, errors) = await HostProcess.RunToExitAsync(HostProcess.Aggregator, _work, Settings(BrokerPorts.Free(), "--Aggregator:BrokerStartupWaitSeconds=3"));

        Assert.Equal(2, code);
        Assert.Contains("cannot be reached at start", errors, StringComparison.Ordinal);
        Assert.Contains("not reachable yet", output + errors, StringComparison.Ordinal);
        Assert.InRange(clock.Elapsed.TotalSeconds, 3, 25);
    }

    [Fact]
    public async Task ABrokerThatRefusesTheAggregator_IsNotWaitedFor()
    {
        var port = BrokerPorts.Free();
        using var broker = Broker(port, refuseEveryone: true);
        await broker.StartAsync();
        try
        {
            var clock = Stopwatch.StartNew();
            var (code, _, errors) = await HostProcess.RunToExitAsync(HostProcess.Aggregator, _work, Settings(port, "--Aggregator:BrokerStartupWaitSeconds=60"));

            Assert.Equal(2, code);
            Assert.Contains("NotAuthorized", errors, StringComparison.Ordinal);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"waited {clock.Elapsed} for a broker that had answered");
        }
        finally
        {
            await broker.StopAsync();
        }
    }
}
