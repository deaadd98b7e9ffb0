using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Lines;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A model added to a running fleet as a new line through the admin API (and the CLI): PyTorch's CNN uploaded as the
/// body, read by the configuration's rules, its aggregator started, announced in the signed catalogue — the devices in
/// its cohort run it, served byte for byte — kept for the next start, and removed again.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class ModelLinesAtRunTimeTests : IAsyncLifetime // xUnit v2 calls IAsyncLifetime.DisposeAsync, never IAsyncDisposable's
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgemlops-lines-runtime-" + Guid.NewGuid().ToString("N"));
    private readonly List<IAsyncDisposable> _running = [];
    private readonly string _brokerPort = BrokerPorts.Free().ToString(System.Globalization.CultureInfo.InvariantCulture);

    private Dictionary<string, string?> Configuration() => new()
    {
        ["Aggregator:Fleet"] = "plant", ["Aggregator:ModelName"] = "vibration", ["Aggregator:Model"] = "mlp-4-6-3", ["Aggregator:EmbeddedBrokerPort"] = _brokerPort, // the same across the restart: devices come back to it
        ["Aggregator:HttpUrl"] = "http://127.0.0.1:0", ["Aggregator:DataDirectory"] = Path.Combine(_dir, "agg"),
        ["Aggregator:Admin:Tokens:olga"] = "operator:olga-token", ["Aggregator:Admin:Tokens:vera"] = "viewer:vera-token",
    };

    private async Task<(AggregatorNode Node, ModelLineHost Lines, HttpClient Admin)> StartAsync()
    {
        var node = new AggregatorNode(AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(Configuration()).Build())); // with the lines kept in its data directory
        _running.Add(node);
        await node.StartAsync(CancellationToken.None);
        var lines = await ModelLineHost.StartAsync(node, NullLoggerFactory.Instance, CancellationToken.None);
        _running.Add(lines);
        return (node, lines, new HttpClient { BaseAddress = node.ArtifactBaseUrl });
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var running in Enumerable.Reverse(_running)) await running.DisposeAsync();
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpClient admin, HttpMethod method, string path, string token, byte[]? body = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : new ByteArrayContent(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await admin.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : throw new InvalidDataException($"{method} {path}: {(int)response.StatusCode} with no body"));
    }

    [Fact]
    public async Task AModelAddedAtRunTime_RunsOnItsCohortsDevices_ComesBackAfterARestart_AndGoesWhenRemoved()
    {
        var (node, lines, admin) = await StartAsync();
        var camera = await LineDevice.StartAsync(node, Path.Combine(_dir, "d0"), "cam-0", new Dictionary<string, string> { ["camera"] = "yes" });
        _running.Add(camera);
        var other = await LineDevice.StartAsync(node, Path.Combine(_dir, "d1"), "pump-1", new Dictionary<string, string>());
        _running.Add(other);
        foreach (var d in new[] { camera, other })
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await d.Agent.WaitForModelAsync(1, cts.Token);
        }

        var cnn = await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_cnn_digits04.onnx"));
        var port = BrokerPorts.Free();
        var add = $"/v1/admin/lines/cnn?reason=camera%20pilot&set=HttpUrl=http://127.0.0.1:{port}&set=ModelInterface:Trainable=last:1&set=Cohort:camera=yes&set=MemoryMb=48";
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(admin, HttpMethod.Post, add, "vera-token", cnn)).Status); // a viewer adds nothing
        var refused = await SendAsync(admin, HttpMethod.Post, add + "&set=Rounds:Fracton=0.5", "olga-token", cnn);
        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        Assert.Contains(refused.Body.GetProperty("errors").EnumerateArray(), e => e.GetString()!.StartsWith("Aggregator:Lines:cnn:Rounds:Fracton: not a setting", StringComparison.Ordinal));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_dir, "agg", "lines", "cnn"), "*.onnx")); // a refused upload is not kept
        var serverFile = await SendAsync(admin, HttpMethod.Post, $"/v1/admin/lines/cnn?reason=r&set=HttpUrl=http://127.0.0.1:{port}&set=Model=onnx:{Path.Combine(_dir, "agg", "keys", "root.pk8")}", "olga-token");
        Assert.Equal(HttpStatusCode.BadRequest, serverFile.Status); // no file of the aggregator's machine is named over the network
        Assert.Contains("names a file on the aggregator's machine", serverFile.Body.GetProperty("error").GetString(), StringComparison.Ordinal);

        var added = await SendAsync(admin, HttpMethod.Post, add, "olga-token", cnn);
        Assert.Equal(HttpStatusCode.Created, added.Status);
        Assert.Equal(("cnn", "added", 48), (added.Body.GetProperty("line").GetProperty("name").GetString(), added.Body.GetProperty("line").GetProperty("source").GetString(), added.Body.GetProperty("line").GetProperty("memoryMb").GetInt32()));
        Assert.Equal(HttpStatusCode.Conflict, (await SendAsync(admin, HttpMethod.Post, add, "olga-token", cnn)).Status); // the name is taken now

        // The camera runs it — the uploaded bytes, verified — and the pump, outside the cohort, does not.
        await Eventually.Until(() => camera.Lines["cnn"] is not null, "the camera starts the new line", 30);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await camera.Lines["cnn"]!.WaitForModelAsync(1, cts.Token);
        var answer = await camera.SendAsync(HttpMethod.Post, "/v1/models/cnn/predict", $$"""{"features":[{{string.Join(",", new float[784])}}]}""");
        Assert.True(answer.Status == HttpStatusCode.OK, answer.Body.ToString());
        Assert.Equal(10, answer.Body.GetProperty("probabilities").GetArrayLength());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(cnn)), lines["cnn"].CurrentVersion.InferenceSha256);
        await Eventually.Until(() => other.Lines.States.Any(s => s.Name == "cnn"), "the pump holds the new catalogue", 30);
        Assert.Null(other.Lines["cnn"]);
        var listed = await SendAsync(admin, HttpMethod.Get, "/v1/admin/lines", "vera-token");
        Assert.Equal(["cnn"], listed.Body.EnumerateArray().Select(l => l.GetProperty("name").GetString()));
        Assert.Equal("this aggregator's", listed.Body[0].GetProperty("updates").GetString()); // no replicas

        // The CLI reads the same: the line, its model and where its own API and console are.
        var console = new Spectre.Console.Testing.TestConsole();
        console.Profile.Width = 250;
        Assert.Equal(0, await EdgeMlOps.Cli.Cli.RunAsync(["lines", "list", "--url", node.ArtifactBaseUrl.ToString(), "--token", "vera-token"], console));
        Assert.Contains($"http://127.0.0.1:{port}/", console.Output, StringComparison.Ordinal);
        Assert.Contains("camera=yes", console.Output, StringComparison.Ordinal);
        Assert.Equal(0, listed.Body[0].GetProperty("replicasStarved").GetArrayLength());

        // A replica the line's coordinator finds starved of the line's updates (its broker rule missing) is named in both.
        for (var round = 1; round <= 2; round++) lines["cnn"].Replicas.Observe($"cnn-r{round}", ["r2"], new HashSet<string>(), own: 3, fellShort: true);
        listed = await SendAsync(admin, HttpMethod.Get, "/v1/admin/lines", "vera-token");
        Assert.Equal(["r2"], listed.Body[0].GetProperty("replicasStarved").EnumerateArray().Select(r => r.GetString()));
        console = new Spectre.Console.Testing.TestConsole();
        console.Profile.Width = 250;
        Assert.Equal(0, await EdgeMlOps.Cli.Cli.RunAsync(["lines", "list", "--url", node.ArtifactBaseUrl.ToString(), "--token", "vera-token"], console));
        Assert.Contains("starved: r2 (write the broker's configuration again)", console.Output, StringComparison.Ordinal);

        // A restart of the aggregator brings the line back, with its registry.
        foreach (var running in new IAsyncDisposable[] { lines, node }) await running.DisposeAsync();
        _running.Remove(lines);
        _running.Remove(node);
        (node, lines, admin) = await StartAsync();
        Assert.Equal("cnn", Assert.Single(lines.Nodes).Options.Line);
        Assert.Single(lines["cnn"].Registry.Versions("cnn"));
        await Eventually.Until(() => camera.Agent.IsConnected, "the camera back on the restarted fleet", 30);
        await Eventually.Until(() => camera.Lines["cnn"] is not null, "the camera runs the line on", 30);

        // Removed: off the catalogue, so off the camera; audited both ways.
        var removed = await SendAsync(admin, HttpMethod.Delete, "/v1/admin/lines/cnn?reason=pilot%20over", "olga-token");
        Assert.Equal(HttpStatusCode.OK, removed.Status);
        await Eventually.Until(() => camera.Lines["cnn"] is null, "the camera stops the removed line", 30);
        Assert.Empty(lines.Nodes);
        Assert.Equal(["line.add", "line.remove"], node.Audit.Entries("lines/").Select(e => e.Action));
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(admin, HttpMethod.Delete, "/v1/admin/lines/cnn?reason=again", "olga-token")).Status);
    }
    [Fact]
    public async Task TheLinesApi_AsksWhoCalls_RefusesABodyOverItsLimit_AndReadsAModelOverKestrelsDefault()
    {
        var (node, lines, admin) = await StartAsync();
        foreach (var (method, path) in new[] { (HttpMethod.Get, "/v1/admin/lines"), (HttpMethod.Post, "/v1/admin/lines/cnn?reason=r&set=Model=mlp-6-8-2&set=HttpUrl=http://127.0.0.1:1"), (HttpMethod.Delete, "/v1/admin/lines/cnn?reason=r") })
        {
            using var anonymous = new HttpRequestMessage(method, path);
            Assert.Equal(HttpStatusCode.Unauthorized, (await admin.SendAsync(anonymous)).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(admin, method, path, "not-a-token")).Status);
        }

        // A declared length over the limit is refused before a byte of it is read.
        using (var socket = new System.Net.Sockets.TcpClient())
        {
            await socket.ConnectAsync(node.ArtifactBaseUrl.Host, node.ArtifactBaseUrl.Port);
            var stream = socket.GetStream();
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(
                $"POST /v1/admin/lines/big?reason=r&set=HttpUrl=http://127.0.0.1:1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer olga-token\r\nContent-Length: {(256 << 20) + 1}\r\n\r\n"));
            using var reader = new StreamReader(stream);
            Assert.StartsWith("HTTP/1.1 400", await reader.ReadLineAsync(), StringComparison.Ordinal);
            string? line;
            while ((line = await reader.ReadLineAsync()) is not null && !line.Contains("request body over 268435456 bytes", StringComparison.Ordinal))
            {
            }

            Assert.NotNull(line);
        }

        // A model is up to 256 MiB, not Kestrel's default 30 MB: a 40 MB body is read, then judged as a model.
        var large = new byte[40 << 20];
        large.AsSpan().Fill(0x5a);
        var read = await SendAsync(admin, HttpMethod.Post, $"/v1/admin/lines/big?reason=r&set=HttpUrl=http://127.0.0.1:{BrokerPorts.Free()}", "olga-token", large);
        Assert.True(read.Status == HttpStatusCode.BadRequest, read.Body.ToString());
        Assert.Contains("ONNX", read.Body.ToString(), StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_dir, "agg", "lines", "big"), "*.onnx"));
        Assert.Empty(lines.Nodes);
        Assert.Empty(node.Audit.Entries("lines/"));
    }
}
