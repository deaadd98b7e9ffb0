using System.Diagnostics;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Storage;
using EdgeMlOps.Tests;

namespace EdgeMlOps.Aggregator.Tests.Lines;

/// <summary>
/// A fleet with a model line run by two aggregator replicas, as docs/SCALING.md runs them: the hosts as processes, one
/// PostgreSQL database, a shared data directory, Debian's Mosquitto configured by <c>--write-mosquitto-config</c>. The
/// coordinator (the lease holder) runs the line; the standby only takes a share of its updates (and of a line added at
/// run time, until it is removed); killed with SIGKILL,
/// the coordinator is replaced and the new one runs the same line from the same registry — its version 1 not made again.
/// </summary>
public sealed class ModelLinesWithReplicasTests : IDisposable
{
    private const string Mosquitto = "/usr/sbin/mosquitto";
    private readonly string _work = AggregatorFixture.TempDirectory();
    private readonly TestPostgres _postgres = new();
    private Process? _broker;

    public void Dispose()
    {
        if (_broker is { HasExited: false }) _broker.Kill();
        _broker?.Dispose();
        _postgres.Dispose();
    }

    private IReadOnlyList<ModelVersionRecord> LineVersions()
    {
        using var databases = new StoreDatabases(_postgres.Options.ForLine("kws"), _work);
        using var registry = new ModelRegistry(databases.Open("registry.db", durable: true));
        return registry.Versions("kws");
    }

    [Fact]
    public async Task TheCoordinatorRunsTheLine_AndTheReplicaThatReplacesItRunsItOn_FromTheSameRegistry()
    {
        Assert.True(File.Exists(Mosquitto), "mosquitto is not installed (apt-get install mosquitto; .ci/run does this)");
        var brokerPort = BrokerPorts.Free();
        var linePort = BrokerPorts.Free();
        string[] fleet =
        [
            "--Aggregator:DataDirectory=" + Path.Combine(_work, "data"), "--Aggregator:Model=mlp-4-6-3", "--Aggregator:ModelName=vibration",
            "--Aggregator:Store:Engine=postgresql", "--Aggregator:Store:ConnectionString=" + _postgres.ConnectionString,
            "--Aggregator:Store:LeaderLeaseSeconds=4", "--Aggregator:Replicas:Members=r1,r2",
            "--Aggregator:Lines:kws:Model=mlp-6-8-2", $"--Aggregator:Lines:kws:HttpUrl=https://127.0.0.1:{linePort}",
            "--Aggregator:Admin:Tokens:vera=viewer:vera-token", "--Aggregator:Admin:Tokens:olga=operator:olga-token",
        ];
        var (firstPort, secondPort) = (BrokerPorts.Free(), BrokerPorts.Free());

        // The broker as an operator sets it up: the configuration the aggregator writes (ACL for both replicas and the line's aggregator).
        // It also admits line kws2, which the operator adds at run time below (written with it, as the add's notice asks).
        var kws2 = $"https://127.0.0.1:{BrokerPorts.Free()}";
        var (code, output, errors) = await HostProcess.RunToExitAsync(HostProcess.Aggregator, _work, [
            .. fleet, $"--Aggregator:EmbeddedBrokerPort={brokerPort}", "--Aggregator:Lines:kws2:Model=mlp-6-8-2", $"--Aggregator:Lines:kws2:HttpUrl={kws2}", "--write-mosquitto-config"]);
        Assert.True(code == 0, output + errors);
        var config = Path.Combine(_work, "data", "mosquitto", "mosquitto.conf");
        var acl = await File.ReadAllTextAsync(Path.Combine(_work, "data", "mosquitto", "acl"));
        Assert.Contains("user aggregator-line-kws", acl, StringComparison.Ordinal);
        Assert.Contains("user aggregator-replica-r2_kws\ntopic read edgemlops/v1/default/lines/kws/devices/+/update\n", acl, StringComparison.Ordinal);
        _broker = Process.Start(new ProcessStartInfo(Mosquitto, ["-c", config]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        await BrokerPorts.WaitUntilListeningAsync(brokerPort);

        string[] replica = [.. fleet, $"--Aggregator:Broker=mqtts://127.0.0.1:{brokerPort}"];
        using var first = new HostProcess(HostProcess.Aggregator, _work, [.. replica, "--Aggregator:Replicas:Name=r1", $"--Aggregator:HttpUrl=https://127.0.0.1:{firstPort}"]);
        await first.WaitForAsync("Model line kws");
        var made = Assert.Single(LineVersions());

        using var second = new HostProcess(HostProcess.Aggregator, _work, [.. replica, "--Aggregator:Replicas:Name=r2", $"--Aggregator:HttpUrl=https://127.0.0.1:{secondPort}"]);
        await second.WaitForAsync("Standby:");
        Assert.NotNull(second.Line("shared subscription $share/aggregators/edgemlops/v1/default/lines/kws/devices/+/update")); // its worker for the line's updates
        await Task.Delay(TimeSpan.FromSeconds(5)); // longer than a term: the coordinator keeps its lease, the standby runs no line
        Assert.False(second.Saw("Model line kws"), "the standby started the line beside the coordinator");

        // A line the operator adds at run time on the coordinator: the standby takes a share of it too, and lets it go when removed.
        using var http = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator });
        async Task<string> Operator(HttpMethod method, string path)
        {
            using var request = new HttpRequestMessage(method, $"https://127.0.0.1:{firstPort}{path}");
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "olga-token");
            using var response = await http.SendAsync(request);
            return $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
        }

        var added = await Operator(HttpMethod.Post, $"/v1/admin/lines/kws2?reason=pilot&set=Model=mlp-6-8-2&set=HttpUrl={kws2}");
        Assert.True(added.StartsWith("201 ", StringComparison.Ordinal), added);
        await second.WaitForAsync("taking a share of model line kws2");
        Assert.StartsWith("200 ", await Operator(HttpMethod.Delete, "/v1/admin/lines/kws2?reason=pilot%20over"), StringComparison.Ordinal);
        await second.WaitForAsync("no longer taking model line kws2");

        first.Kill(); // no clean stop: the lease must expire
        await second.WaitForAsync("Model line kws");
        Assert.True(second.Saw("fencing token 2"), string.Join('\n', second.Lines));
        var kept = Assert.Single(LineVersions());
        Assert.Equal((made.Version, made.InferenceSha256, made.CreatedAt), (kept.Version, kept.InferenceSha256, kept.CreatedAt));

        // The line's own API answers again, from the new coordinator.
        await Eventually.Until(async () =>
        {
            try
            {
                return (await http.GetAsync($"https://127.0.0.1:{linePort}/healthz")).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, "the line's API on the new coordinator", 30);

        // The operator sees who takes the line's updates.
        using var list = new HttpRequestMessage(HttpMethod.Get, $"https://127.0.0.1:{secondPort}/v1/admin/lines");
        list.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "vera-token");
        using var listed = await http.SendAsync(list);
        var line = Assert.Single(System.Text.Json.JsonDocument.Parse(await listed.Content.ReadAsStringAsync()).RootElement.EnumerateArray());
        Assert.Equal(("kws", "shared over the replicas"), (line.GetProperty("name").GetString(), line.GetProperty("updates").GetString()));
        Assert.Equal(0, line.GetProperty("replicasStarved").GetArrayLength()); // nobody left connected and starved
    }
}
