using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Tests.Storage;

/// <summary>
/// Chaos: the aggregator process is killed (SIGKILL) again and again while versions are being committed — a
/// scientist uploading models in a loop, each one stored, registered, audited and deployed (auto mode). Afterwards
/// the registry, the artifacts and the audit chain agree and exactly one version is deployed.
/// </summary>
public class AggregatorKillTests
{
    private const string Token = "kill-test-token";

    [Fact]
    public async Task KilledWhileCommittingVersions_RegistryArtifactsAndAuditAgree_AndOneVersionIsDeployed()
    {
        var work = AggregatorFixture.TempDirectory();
        var data = Path.Combine(work, "data");
        string[] args =
        [
            "--Aggregator:HttpUrl=http://127.0.0.1:0", "--Aggregator:EmbeddedBrokerPort=0", "--Aggregator:DataDirectory=" + data,
            "--Aggregator:ModelName=tiny", "--Aggregator:Model=" + AggregatorFixture.Spec, $"--Aggregator:Admin:Tokens:dana=scientist:{Token}",
        ];
        var random = new Random(7);
        var uploaded = 0;
        for (var kill = 0; kill < 4; kill++)
        {
            using var host = new HostProcess(HostProcess.Aggregator, work, args);
            await host.WaitForAsync("Aggregator for fleet");
            var url = ArtifactUrl(host.Line("Aggregator for fleet")!);
            using var uploads = new CancellationTokenSource();
            var loop = new UploadLoop(url, kill);
            var running = Task.Run(() => loop.RunAsync(uploads.Token));
            await Eventually.Until(() => loop.Count >= 2, "two versions committed in this life");
            await Task.Delay(random.Next(0, 400)); // somewhere inside a later commit
            host.Kill();
            await uploads.CancelAsync();
            await running;
            uploaded += loop.Count;
        }

        await using var node = new AggregatorNode(AggregatorFixture.Options(data, clients: 1));
        var versions = node.Registry.Versions("tiny");
        Assert.True(versions.Count >= 1 + uploaded, $"{versions.Count} versions for {uploaded} acknowledged uploads"); // nothing acknowledged is lost
        InterruptedCommitTests.AssertRegistryAndAuditAgree(node.Registry, node.Audit, "tiny");
        Assert.Single(versions, v => v.State == VersionStates.Deployed);
        Assert.Equal(versions[^1].Version, node.DeployedVersion!.Version);
        foreach (var v in versions)
        {
            foreach (var sha in new[] { v.InferenceSha256, v.TrainStepSha256 })
            {
                Assert.Equal(sha, Convert.ToHexStringLower(SHA256.HashData(node.Artifacts.Read(sha))));
            }
        }
    }

    /// <summary>Posts one new version after another until the host dies; <see cref="Count"/> is how many were acknowledged (201).</summary>
    private sealed class UploadLoop(Uri baseUrl, int life)
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public async Task RunAsync(CancellationToken stop)
        {
            using var http = new HttpClient { BaseAddress = baseUrl };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var weights = ModelWeights.Initialize(AggregatorFixture.Spec, 1000 * life + i);
                using var body = new ByteArrayContent(ClassifierGraphs.BuildInference(weights).ToByteArray());
                try
                {
                    using var response = await http.PostAsync("/v1/admin/models/tiny/versions?reason=chaos", body, stop);
                    Assert.Equal(HttpStatusCode.Created, response.StatusCode);
                    Interlocked.Increment(ref _count);
                }
                catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
                {
                    return; // killed
                }
            }
        }
    }

    private static Uri ArtifactUrl(string startLine)
    {
        var at = startLine.IndexOf("artifacts ", StringComparison.Ordinal) + "artifacts ".Length;
        var uri = new Uri(startLine[at..startLine.IndexOf(',', at)]);
        return new Uri(uri.GetLeftPart(UriPartial.Authority));
    }
}
