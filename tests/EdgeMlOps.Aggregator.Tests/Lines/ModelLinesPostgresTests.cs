using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Lines;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Tests;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Aggregator.Tests.Lines;

/// <summary>
/// A fleet with a model line on PostgreSQL (<c>Store:Engine=postgresql</c>): the line's registry, governance and audit
/// live in a schema of its own on the fleet's database (created at its first start), apart from the first model's,
/// and are there again after a restart.
/// </summary>
public sealed class ModelLinesPostgresTests : IDisposable
{
    private readonly TestPostgres _postgres = new();
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgemlops-lines-pg-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        _postgres.Dispose();
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private AggregatorOptions Options()
    {
        var fleet = new AggregatorOptions
        {
            Fleet = "plant", ModelName = "vibration", Model = ModelSpec.Mlp(4, [6], 3), HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(_dir, "agg"), Store = _postgres.Options,
        };
        var kws = new AggregatorOptions
        {
            Fleet = "plant", Line = "kws", ModelName = "kws", Model = ModelSpec.Mlp(6, [8], 2), HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(_dir, "agg", "lines", "kws"),
            Store = fleet.Store.ForLine("kws"), Trust = new Trust.TrustOptions { RootKeyFile = Path.Combine(_dir, "agg", "keys", "root.pk8") },
            Governance = new GovernanceOptions { Mode = DeploymentMode.Governed },
        };
        return fleet with { Lines = [new ModelLineOptions("kws", kws, new Dictionary<string, IReadOnlyList<string>>(), 64UL << 20)] };
    }

    [Fact]
    public async Task ALinesRecords_LiveInItsOwnSchema_AndSurviveARestart()
    {
        var hub = new InMemoryFleetHub();
        await using (var node = new AggregatorNode(Options(), NullLoggerFactory.Instance, channels: hub))
        {
            await node.StartAsync(CancellationToken.None);
            await using var lines = await ModelLineHost.StartAsync(node, NullLoggerFactory.Instance, CancellationToken.None);
            Assert.Equal([$"{_postgres.Schema}_line_kws"], _postgres.Schemas($"{_postgres.Schema}_line_")); // created at the line's first start
            lines["kws"].Governance.Approve("alice", "kws", 1, "reviewed");
        }

        await using (var node = new AggregatorNode(Options(), NullLoggerFactory.Instance, channels: hub))
        {
            await node.StartAsync(CancellationToken.None);
            await using var lines = await ModelLineHost.StartAsync(node, NullLoggerFactory.Instance, CancellationToken.None);
            var kws = lines["kws"];
            Assert.Equal(VersionStates.Approved, kws.Registry.Version("kws", 1)!.State);
            Assert.Single(kws.Registry.Versions("kws")); // the same v1, not a second one
            Assert.Contains(kws.Audit.Entries(), e => e.Action == "version." + VersionStates.Approved && e.Actor == "alice");
            Assert.True(kws.Audit.Verify().Intact);

            // The first model's tables know nothing of the line's, and the line's nothing of the first model's.
            Assert.Empty(node.Registry.Versions("kws"));
            Assert.Empty(kws.Registry.Versions("vibration"));
            Assert.DoesNotContain(node.Audit.Entries(), e => e.Subject.StartsWith("model/kws/", StringComparison.Ordinal));
        }
    }
}
