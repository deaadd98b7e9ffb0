using System.Diagnostics;
using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Storage;

namespace EdgeMlOps.Bench;

/// <summary>
/// What the store engine costs the aggregator's writes, SQLite and PostgreSQL side by side in one run (each twice, in
/// alternating order): message ids remembered (one per update or status — the hot path) from one thread and from four,
/// audit appends (a synced, chained write each), and round commits (a round and a version row).
/// <c>dotnet run --project bench/EdgeMlOps.Bench -c Release -- store-cost [NPGSQL-CONNECTION-STRING]</c>
/// (default: <c>EDGEMLOPS_TEST_POSTGRES</c>, or the server <c>.ci/run</c> starts).
/// </summary>
public static class StoreCost
{
    private const int Ids = 5_000;
    private const int Appends = 1_000;
    private const int Commits = 500;

    public static async Task RunAsync(string? connectionString, TextWriter output)
    {
        var server = ScratchStore.Server(connectionString);
        output.WriteLine("engine      ids/s (1 thread)  ids/s (4 threads)  audit appends/s  round commits/s");
        foreach (var engine in ScratchStore.AlternatingEngines)
        {
            using var scratch = new ScratchStore(engine, server);
            using var databases = new StoreDatabases(scratch.Options, scratch.Directory);
            var (one, four) = await IdsPerSecondAsync(databases);
            var appends = AppendsPerSecond(databases, engine == StoreEngine.Sqlite ? Path.Combine(scratch.Directory, "audit.db.head") : null);
            var commits = CommitsPerSecond(databases);
            output.WriteLine($"{scratch.Name,-10}  {one,16:F0}  {four,17:F0}  {appends,15:F0}  {commits,15:F0}");
        }
    }

    private static async Task<(double One, double Four)> IdsPerSecondAsync(StoreDatabases databases)
    {
        using var seen = new SeenMessages(databases.Open("messages.db", durable: false), TimeProvider.System);
        for (var i = 0; i < 200; i++) seen.TryAdd("warm-up", $"m-{i}"); // the driver's first statements, the pool's first connections
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < Ids; i++) seen.TryAdd("dev-1", $"m-{i}");
        var one = Ids / clock.Elapsed.TotalSeconds;
        clock.Restart();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < Ids / 4; i++) seen.TryAdd($"dev-{t + 2}", $"m-{i}");
        })));
        return (one, Ids / clock.Elapsed.TotalSeconds);
    }

    private static double AppendsPerSecond(StoreDatabases databases, string? headFile)
    {
        using var audit = new AuditLog(databases.Open("audit.db", durable: true), headFile);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < Appends; i++) audit.Append(DateTimeOffset.UtcNow, "bench", "round.commit", $"round/{i}", "bench", null, null);
        return Appends / clock.Elapsed.TotalSeconds;
    }

    private static double CommitsPerSecond(StoreDatabases databases)
    {
        using var registry = new ModelRegistry(databases.Open("registry.db", durable: true));
        var now = DateTimeOffset.UtcNow;
        registry.AddModel("bench", "mlp-4-3", now);
        var clock = Stopwatch.StartNew();
        for (var i = 1; i <= Commits; i++)
        {
            registry.AddVersion(new ModelVersionRecord("bench", (ulong)i, (ulong)i - 1, i, 10, 1000, "sha-i", 1000, "sha-t", 2000, 0.9, 0.3, 0.2, now));
            registry.AddRound(new RoundRecord("bench", i, $"r{i}", (ulong)i - 1, EdgeMlOps.Aggregator.Rounds.RoundStatus.Completed, 10, 10, 1000, 0, (ulong)i, now, now));
        }

        return Commits / clock.Elapsed.TotalSeconds;
    }
}
