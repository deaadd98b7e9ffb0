using System.Net;
using System.Net.Http.Headers;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Tests.Registry;

/// <summary>
/// The aggregator's disk full (a real tmpfs filled to the last page). An artifact write that fails left its partial
/// temporary file behind, so the space it took never came back — not even after a restart — and an upload answered
/// 500 "internal error". A failed write removes what it wrote, a start removes what a crash left, and an upload is
/// refused with 507 saying the storage is full; once space is freed the same upload succeeds.
/// </summary>
public sealed class DiskFullTests
{
    [Fact]
    public void AnArtifactThatDoesNotFit_LeavesNoPartialFile()
    {
        using var disk = Tmpfs.Mount("256k");
        var store = new ArtifactStore(Path.Combine(disk.Path, "artifacts"));
        disk.Fill();

        Assert.ThrowsAny<IOException>(() => store.Put(new byte[64 * 1024]));

        Assert.Empty(Directory.GetFiles(Path.Combine(disk.Path, "artifacts"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void AStart_RemovesTemporaryFilesACrashLeft_ButNotOneBeingWritten()
    {
        var root = AggregatorFixture.TempDirectory();
        var shard = Directory.CreateDirectory(Path.Combine(root, "ab")).FullName;
        var crashed = Path.Combine(shard, "ab" + new string('0', 62) + ".0123456789abcdef0123456789abcdef.tmp");
        var writing = Path.Combine(shard, "ab" + new string('1', 62) + ".fedcba9876543210fedcba9876543210.tmp");
        File.WriteAllBytes(crashed, new byte[100]);
        File.SetLastWriteTimeUtc(crashed, DateTime.UtcNow - TimeSpan.FromHours(2));
        File.WriteAllBytes(writing, new byte[100]); // another replica's write on the shared volume, under way

        _ = new ArtifactStore(root);

        Assert.False(File.Exists(crashed));
        Assert.True(File.Exists(writing));
    }

    /// <summary>The small files beside the stores (the audit head, keys, the bundle, the CA's) are written the same way; what a crash left of them goes at the next start too.</summary>
    [Fact]
    public async Task AStart_RemovesWhatACrashLeftOfTheFilesBesideTheStores()
    {
        var data = AggregatorFixture.TempDirectory();
        await new AggregatorNode(AggregatorFixture.Options(data, clients: 1)).DisposeAsync();
        string[] crashed =
        [
            Path.Combine(data, "audit.db.head.0123456789abcdef0123456789abcdef.tmp"),
            Path.Combine(data, "keys", "bundle.pb.0123456789abcdef0123456789abcdef.tmp"),
            Path.Combine(data, "pki", "ca.key.0123456789abcdef0123456789abcdef.tmp"),
        ];
        foreach (var file in crashed)
        {
            File.WriteAllBytes(file, new byte[100]);
            File.SetLastWriteTimeUtc(file, DateTime.UtcNow - TimeSpan.FromHours(2));
        }

        await new AggregatorNode(AggregatorFixture.Options(data, clients: 1)).DisposeAsync();

        Assert.All(crashed, file => Assert.False(File.Exists(file), file));
    }

    [Fact]
    public async Task AnUploadOnAFullDisk_Is507_AndSucceedsOnceSpaceIsFreed()
    {
        using var disk = Tmpfs.Mount("8m");
        var options = AggregatorFixture.Options(Path.Combine(disk.Path, "data"), clients: 1) with
        {
            Governance = new GovernanceOptions { Identities = [new AdminIdentity("dana", AdminIdentity.HashToken("dana-token"), new HashSet<string> { AdminRoles.Scientist })] },
        };
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        using var http = new HttpClient { BaseAddress = node.ArtifactBaseUrl };
        var weights = ModelWeights.Initialize(AggregatorFixture.Spec, 11);
        var file = ClassifierGraphs.BuildInference(weights).ToByteArray();
        var filler = disk.Fill();

        using (var full = await UploadAsync(http, file))
        {
            Assert.Equal((HttpStatusCode)507, full.StatusCode);
            Assert.Contains("storage is full", await full.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Single(node.Registry.Versions("tiny"));
        File.Delete(filler);
        using var freed = await UploadAsync(http, file);
        Assert.True(freed.StatusCode == HttpStatusCode.Created, await freed.Content.ReadAsStringAsync());
        Assert.Equal(2, node.Registry.Versions("tiny").Count);
    }

    private static async Task<HttpResponseMessage> UploadAsync(HttpClient http, byte[] file)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/admin/models/tiny/versions?reason=retrained%20offline") { Content = new ByteArrayContent(file) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "dana-token");
        return await http.SendAsync(request);
    }
}
