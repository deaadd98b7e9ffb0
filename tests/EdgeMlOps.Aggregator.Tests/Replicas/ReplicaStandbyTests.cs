using EdgeMlOps.Aggregator.Lines;
using EdgeMlOps.Aggregator.Replicas;
using EdgeMlOps.Aggregator.Storage;
using EdgeMlOps.Aggregator.Tests.Storage;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Tests;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMlOps.Aggregator.Tests.Replicas;

/// <summary>
/// A standing-by replica follows the model lines the coordinator adds and removes at run time (kept in the shared data
/// directory): it starts taking a share of a new line's updates within <see cref="ReplicaStandby.LinesInterval"/>,
/// stops when the line goes, and starts a new worker when the line comes back with another model. Before, it took a
/// share of only the lines it read at its own start; a line added later went to the coordinator alone until a restart.
/// </summary>
public sealed class ReplicaStandbyTests : IDisposable
{
    private readonly string _dir = AggregatorFixture.TempDirectory();
    private readonly TestPostgres _postgres = new();

    public void Dispose()
    {
        _postgres.Dispose();
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private AggregatorOptions Options(string replica) => AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["Aggregator:Fleet"] = "plant", ["Aggregator:Model"] = "mlp-4-6-3", ["Aggregator:DataDirectory"] = _dir, ["Aggregator:HttpUrl"] = "https://127.0.0.1:8443",
        ["Aggregator:Store:Engine"] = "postgresql", ["Aggregator:Store:ConnectionString"] = _postgres.ConnectionString, ["Aggregator:Store:LeaderLeaseSeconds"] = "10",
        ["Aggregator:Replicas:Name"] = replica, ["Aggregator:Replicas:Members"] = "r1,r2",
    }).Build());

    /// <summary>The coordinator's side: lines added and removed as its line host does (the line's store made before the line is kept).</summary>
    private FleetLines Coordinator() => new(Options("r1"))
    {
        Starting = (line, _) =>
        {
            using var databases = new StoreDatabases(line.Options.Store, line.Options.DataDirectory);
            new RoundShares(databases.Open("registry.db", durable: true)).Dispose();
            return Task.CompletedTask;
        },
    };

    private static Dictionary<string, string> Line(string model) => new() { ["Model"] = model, ["HttpUrl"] = "https://127.0.0.1:8444" };

    [Fact]
    public async Task AStandingByReplica_FollowsTheLinesAddedAndRemovedAtRunTime()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var hub = new InMemoryFleetHub();
        await using var standby = new ReplicaStandby(Options("r2"), _ => hub, time, NullLoggerFactory.Instance);
        await standby.StartAsync(CancellationToken.None);
        Assert.Empty(standby.AcceptedByLine);

        var coordinator = Coordinator();
        await coordinator.AddAsync("kws", Line("mlp-6-8-2"), CancellationToken.None);
        time.Advance(ReplicaStandby.LinesInterval);
        await Eventually.Until(() => standby.AcceptedByLine.ContainsKey("kws"), "the replica joins the line added at run time");

        // Its worker is on the line's shared subscription: an update published there reaches it (and, not being one, is refused).
        await using (var device = hub.Create(new FleetChannelOptions("mic-1") { CleanStart = true }, NullLoggerFactory.Instance))
        {
            await device.ConnectAsync(CancellationToken.None);
            await device.PublishAsync(new EdgeMlOps.Shared.Protocol.Topics("plant", "kws").Update("mic-1"), [1, 2, 3], retain: false, CancellationToken.None);
        }

        await Eventually.Until(() => standby.RefusedByLine["kws"] == 1, "the line's update reached the replica's worker");

        // Removed, then added again with another model: the old worker goes, a new one comes for the new model.
        await coordinator.RemoveAsync("kws", CancellationToken.None);
        await standby.FollowLinesOnceAsync(CancellationToken.None);
        Assert.Empty(standby.AcceptedByLine);
        await coordinator.AddAsync("kws", Line("mlp-6-4-2"), CancellationToken.None);
        await standby.FollowLinesOnceAsync(CancellationToken.None);
        Assert.Equal(0, Assert.Contains("kws", standby.RefusedByLine));
    }

    [Fact]
    public async Task LinesThatNoLongerRead_LeaveTheWorkersAsTheyAre()
    {
        var coordinator = Coordinator();
        await coordinator.AddAsync("kws", Line("mlp-6-8-2"), CancellationToken.None);
        var hub = new InMemoryFleetHub();
        await using var standby = new ReplicaStandby(Options("r2"), _ => hub, TimeProvider.System, NullLoggerFactory.Instance);
        await standby.StartAsync(CancellationToken.None);
        Assert.Contains("kws", standby.AcceptedByLine);

        await File.WriteAllTextAsync(Path.Combine(_dir, "lines", FleetLines.StoreFile), "{\"kws\": null}"); // damaged by hand
        await standby.FollowLinesOnceAsync(CancellationToken.None);
        Assert.Contains("kws", standby.AcceptedByLine); // not taken as "every added line removed"
    }
}
