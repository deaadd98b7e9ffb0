using EdgeMlOps.Aggregator.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace EdgeMlOps.Aggregator.Tests.Storage;

/// <summary>
/// A damaged SQLite file for every store the aggregator keeps: a record (versions, certificates, the audit chain)
/// stops the start with the file and the way back and is left as it was; a cache (message ids, security events) is
/// kept aside and started empty. Never a crash loop of stack traces.
/// </summary>
public class DamagedStoreTests
{
    private static async Task<string> StartedOnceAsync()
    {
        var dir = AggregatorFixture.TempDirectory();
        await using (new AggregatorNode(AggregatorFixture.Options(dir, clients: 1)))
        {
        }

        return dir;
    }

    private static void OverwriteHeader(string path) =>
        File.WriteAllBytes(path, Enumerable.Repeat((byte)'x', 8192).ToArray());

    [Theory]
    [InlineData("registry.db")]
    [InlineData("security.db")]
    [InlineData("audit.db")]
    public async Task ADamagedRecord_StopsTheStart_NamingTheFileAndTheWayBack_AndIsLeftAsItWas(string file)
    {
        var dir = await StartedOnceAsync();
        var path = Path.Combine(dir, file);
        OverwriteHeader(path);

        var ex = Assert.Throws<StoreException>(() => new AggregatorNode(AggregatorFixture.Options(dir, clients: 1)));
        Assert.Contains($"{path} is damaged (SQLite error 26", ex.Message, StringComparison.Ordinal);
        Assert.Contains("--backup", ex.Message, StringComparison.Ordinal);
        Assert.Equal(Enumerable.Repeat((byte)'x', 8192), File.ReadAllBytes(path));
        Assert.Empty(Directory.GetFiles(dir, "*.corrupt-*"));
    }

    [Fact]
    public async Task DamageInsideARecord_WithAnIntactHeader_IsFoundAtOpen()
    {
        var dir = await StartedOnceAsync();
        var path = Path.Combine(dir, "registry.db");
        using (var file = File.OpenWrite(path))
        {
            file.Position = 4096; // page 2 onwards: table b-trees
            file.Write(Enumerable.Repeat((byte)0xA5, 8192).ToArray());
        }

        var ex = Assert.Throws<StoreException>(() => new AggregatorNode(AggregatorFixture.Options(dir, clients: 1)));
        Assert.Contains("is damaged (SQLite error 11", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("messages.db")]
    [InlineData("security.events.db")]
    public async Task ADamagedCache_IsKeptAside_AndTheAggregatorStarts(string file)
    {
        var dir = await StartedOnceAsync();
        OverwriteHeader(Path.Combine(dir, file));
        using var logs = new FakeLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));

        await using var node = new AggregatorNode(AggregatorFixture.Options(dir, clients: 1), loggers);
        var aside = Assert.Single(Directory.GetFiles(dir, file + ".corrupt-*"));
        Assert.Equal(8192, new FileInfo(aside).Length);
        Assert.Contains(logs.Collector.GetSnapshot().Select(r => r.Message), m => m.StartsWith($"Store damaged: {file} was damaged (SQLite error 26", StringComparison.Ordinal) && m.Contains(Path.GetFileName(aside), StringComparison.Ordinal));
        Assert.True(node.Seen.TryAdd("dev-1", "m-1"), "the fresh message store works");

        await node.StartAsync(CancellationToken.None);
        using var http = Viewer.Client(node.ArtifactBaseUrl);
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("edgemlops_store_repairs{kind=\"damaged_cache\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("edgemlops_store_repairs{kind=\"interrupted_commit\"} 0\n", metrics, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("5")] // active/standby: the lease is taken in the registry's file before anything else opens
    public async Task TheHost_WithADamagedRegistry_ExitsWithCode2_AndNoStackTrace(string leaseSeconds)
    {
        var dir = await StartedOnceAsync();
        OverwriteHeader(Path.Combine(dir, "registry.db"));
        var (code, _, errors) = await HostProcess.RunToExitAsync(HostProcess.Aggregator, dir, "--Aggregator:HttpUrl=http://127.0.0.1:0", "--Aggregator:EmbeddedBrokerPort=0",
            "--Aggregator:DataDirectory=" + dir, "--Aggregator:ModelName=tiny", "--Aggregator:Model=" + AggregatorFixture.Spec, "--Aggregator:Store:LeaderLeaseSeconds=" + leaseSeconds);
        Assert.Equal(2, code);
        Assert.Contains("registry.db is damaged", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", errors, StringComparison.Ordinal);
    }
}
