using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using EdgeMlOps.Aggregator.Lines;
using EdgeMlOps.Tests;

namespace EdgeMlOps.Aggregator.Tests.Lines;

/// <summary>
/// Active/standby as docs/SCALING.md runs it (two host processes, one shared data directory): a model line an operator
/// adds at run time on the leader is run by the standby that replaces it — the standby read its options before the line
/// existed — and that new leader can remove it again. Before, the new leader ran only the lines it read at its own
/// start, published a catalogue without the added line (its devices dropped it) and answered 404 for it.
/// </summary>
public sealed class AddedLinesFailoverTests : IDisposable
{
    private readonly string _work = AggregatorFixture.TempDirectory();

    public void Dispose()
    {
        if (Directory.Exists(_work)) Directory.Delete(_work, recursive: true);
    }

    [Fact]
    public async Task ALineAddedOnTheLeader_IsRunByTheStandbyThatReplacesIt_AndCanBeRemovedThere()
    {
        var (firstPort, secondPort, linePort) = (BrokerPorts.Free(), BrokerPorts.Free(), BrokerPorts.Free());
        string[] fleet =
        [
            "--Aggregator:EmbeddedBrokerPort=0", "--Aggregator:DataDirectory=" + Path.Combine(_work, "data"), "--Aggregator:Store:LeaderLeaseSeconds=4",
            "--Aggregator:Admin:Tokens:olga=operator:olga-token",
        ];
        using var first = new HostProcess(HostProcess.Aggregator, _work, [.. fleet, $"--Aggregator:HttpUrl=https://127.0.0.1:{firstPort}"]);
        await first.WaitForAsync("Aggregator for fleet");
        using var second = new HostProcess(HostProcess.Aggregator, _work, [.. fleet, $"--Aggregator:HttpUrl=https://127.0.0.1:{secondPort}"]);
        await second.WaitForAsync("Standby:"); // its options are read: the fleet has no line yet

        using var http = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator });
        var (added, _) = await SendAsync(http, HttpMethod.Post, $"https://127.0.0.1:{firstPort}/v1/admin/lines/kws?reason=pilot&set=Model=mlp-6-8-2&set=HttpUrl=https://127.0.0.1:{linePort}");
        Assert.Equal(HttpStatusCode.Created, added);
        await first.WaitForAsync("Model line kws");

        first.Kill(); // no clean stop: the lease must expire
        await second.WaitForAsync("Aggregator for fleet");
        await second.WaitForAsync("Model line kws"); // the line kept in the shared data directory, run by the new leader
        var (listed, lines) = await SendAsync(http, HttpMethod.Get, $"https://127.0.0.1:{secondPort}/v1/admin/lines");
        Assert.Equal(HttpStatusCode.OK, listed);
        var line = Assert.Single(lines.EnumerateArray());
        Assert.Equal(("kws", "added"), (line.GetProperty("name").GetString(), line.GetProperty("source").GetString()));

        var (removed, _) = await SendAsync(http, HttpMethod.Delete, $"https://127.0.0.1:{secondPort}/v1/admin/lines/kws?reason=pilot%20over");
        Assert.Equal(HttpStatusCode.OK, removed);
        Assert.Empty(FleetLines.StoredSettings(Path.Combine(_work, "data")));
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpClient http, HttpMethod method, string url)
    {
        using var request = new HttpRequestMessage(method, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "olga-token");
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default);
    }
}
