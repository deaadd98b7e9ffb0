using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using EdgeMlOps.Aggregator.Lines;
using EdgeMlOps.Tests;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace EdgeMlOps.Aggregator.Tests.Lines;

/// <summary>
/// A model line that cannot start — its API address taken, its own connection refused by the broker — stops the
/// aggregator's start with exit code 2 naming the line's setting, as the fleet's first model does; added at run time, it
/// is refused (409) and not kept, and the fleet goes on. Before, the start crashed with an unhandled exception (exit
/// code 134, a core dump) whose message named the first model's <c>Aggregator:HttpUrl</c>, and the request answered 500.
/// </summary>
public sealed class LineStartFailureTests : IDisposable
{
    private readonly string _work = AggregatorFixture.TempDirectory();

    public void Dispose()
    {
        if (Directory.Exists(_work)) Directory.Delete(_work, recursive: true);
    }

    [Fact]
    public async Task AConfiguredLineWhoseAddressIsTaken_StopsTheStartWithExitCode2_NamingTheLinesSetting()
    {
        using var occupant = Occupied(out var port);
        var (code, output, errors) = await HostProcess.RunToExitAsync(HostProcess.Aggregator, _work, "--Aggregator:DataDirectory=" + Path.Combine(_work, "data"),
            "--Aggregator:EmbeddedBrokerPort=0", "--Aggregator:HttpUrl=https://127.0.0.1:0",
            "--Aggregator:Lines:cam:Model=mlp-8-4-2", $"--Aggregator:Lines:cam:HttpUrl=https://127.0.0.1:{port}");

        Assert.Equal(2, code);
        Assert.Contains($"Aggregator:Lines:cam:HttpUrl: https://127.0.0.1:{port} is already in use", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output + errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AConfiguredLineTheBrokerRefuses_StopsTheStartWithExitCode2_NamingTheLineAndItsClient()
    {
        // A broker that admits the fleet's aggregator but not the line's (an ACL or an authorizer not told of the line).
        var port = BrokerPorts.Free();
        using var broker = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(IPAddress.Loopback).WithDefaultEndpointPort(port).Build());
        broker.ValidatingConnectionAsync += e =>
        {
            if (e.ClientId.Contains("-line-", StringComparison.Ordinal)) e.ReasonCode = MqttConnectReasonCode.NotAuthorized;
            return Task.CompletedTask;
        };
        await broker.StartAsync();
        try
        {
            var (code, output, errors) = await HostProcess.RunToExitAsync(HostProcess.Aggregator, _work, "--Aggregator:DataDirectory=" + Path.Combine(_work, "data"),
                $"--Aggregator:Broker=mqtt://127.0.0.1:{port}", "--Aggregator:Security:AllowPlaintext=true", "--Aggregator:HttpUrl=https://127.0.0.1:0",
                "--Aggregator:Lines:cam:Model=mlp-8-4-2", $"--Aggregator:Lines:cam:HttpUrl=https://127.0.0.1:{BrokerPorts.Free()}");

            Assert.Equal(2, code);
            Assert.Contains($"Aggregator:Lines:cam: its aggregator (aggregator-line-cam) cannot connect to mqtt://127.0.0.1:{port} at start", errors, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled exception", output + errors, StringComparison.Ordinal);
        }
        finally
        {
            await broker.StopAsync();
        }
    }

    [Fact]
    public async Task ALineAddedAtRunTimeWhoseAddressIsTaken_IsRefusedAndNotKept_AndTheNameCanBeUsedAgain()
    {
        using var occupant = Occupied(out var taken);
        var (apiPort, freePort) = (BrokerPorts.Free(), BrokerPorts.Free());
        using var aggregator = new HostProcess(HostProcess.Aggregator, _work, ["--Aggregator:DataDirectory=" + Path.Combine(_work, "data"), "--Aggregator:EmbeddedBrokerPort=0",
            $"--Aggregator:HttpUrl=https://127.0.0.1:{apiPort}", "--Aggregator:Admin:Tokens:olga=operator:olga-token"]);
        await aggregator.WaitForAsync("Aggregator for fleet");
        using var http = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator });

        var (refused, why) = await PostAsync(http, $"https://127.0.0.1:{apiPort}/v1/admin/lines/kws?reason=pilot&set=Model=mlp-6-8-2&set=HttpUrl=https://127.0.0.1:{taken}");
        Assert.Equal(HttpStatusCode.Conflict, refused);
        Assert.Contains($"model line 'kws' was not added: Aggregator:Lines:kws:HttpUrl: https://127.0.0.1:{taken} is already in use", why, StringComparison.Ordinal);
        Assert.Empty(FleetLines.StoredSettings(Path.Combine(_work, "data")));

        var (added, _) = await PostAsync(http, $"https://127.0.0.1:{apiPort}/v1/admin/lines/kws?reason=pilot&set=Model=mlp-6-8-2&set=HttpUrl=https://127.0.0.1:{freePort}");
        Assert.Equal(HttpStatusCode.Created, added);
        await aggregator.WaitForAsync("Model line kws");
    }

    private static TcpListener Occupied(out int port)
    {
        var occupant = new TcpListener(IPAddress.Loopback, 0);
        occupant.Start();
        port = ((IPEndPoint)occupant.LocalEndpoint).Port;
        return occupant;
    }

    private static async Task<(HttpStatusCode Status, string Body)> PostAsync(HttpClient http, string url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "olga-token");
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
