using System.Diagnostics;
using System.Text.Json;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Storage;

namespace EdgeMlOps.Bench;

/// <summary>
/// What reading a long history costs: a registry of <c>N</c> versions and rounds (a round every five minutes for a
/// few months), read as the API, the console's refresh, a /metrics scrape, a card and every round's "which version is
/// deployed" read it before (every row) and now (a page, a count, one row), on SQLite and PostgreSQL.
/// <c>dotnet run --project bench/EdgeMlOps.Bench -c Release -- registry-history [N] [NPGSQL-CONNECTION-STRING]</c>
/// </summary>
public static class RegistryHistoryCost
{
    public static void Run(int versions, string? connectionString, TextWriter output)
    {
        var server = ScratchStore.Server(connectionString);
        output.WriteLine($"{versions:N0} versions and rounds; median of 5 reads, ms (bytes of the answer as JSON)");
        output.WriteLine("engine      read                           before (every row)          now (a page or a row)");
        foreach (var engine in new[] { StoreEngine.Sqlite, StoreEngine.PostgreSql })
        {
            using var scratch = new ScratchStore(engine, server);
            using var databases = new StoreDatabases(scratch.Options, scratch.Directory);
            using var registry = new ModelRegistry(databases.Open("registry.db", durable: false));
            Fill(registry, versions);
            Row(output, scratch.Name, "versions (API, console)", () => registry.Versions("bench"), () => registry.VersionsPage("bench", EdgeMlOps.Aggregator.Http.ApiPage.DefaultSize, null));
            Row(output, scratch.Name, "rounds (API, console)", () => registry.Rounds("bench"), () => registry.RoundsPage("bench", EdgeMlOps.Aggregator.Http.ApiPage.DefaultSize, null));
            Row(output, scratch.Name, "rounds by status (/metrics)", () => registry.Rounds("bench").GroupBy(r => r.Status).Select(g => (g.Key, g.Count())).ToArray(), () => registry.RoundCounts("bench"));
            Row(output, scratch.Name, "a version's round (card)", () => registry.Rounds("bench").FirstOrDefault(r => r.NewVersion == 7), () => registry.RoundOf("bench", 7));
            Row(output, scratch.Name, "deployed (every round)", () => registry.Versions("bench").LastOrDefault(v => v.State == VersionStates.Deployed), () => registry.LatestIn("bench", VersionStates.Deployed));
        }
    }

    private static void Fill(ModelRegistry registry, int versions)
    {
        var now = DateTimeOffset.UtcNow;
        registry.AddModel("bench", "mlp-784-128-10", now);
        for (var i = 1; i <= versions; i++)
        {
            registry.AddVersion(new ModelVersionRecord("bench", (ulong)i, (ulong)i - 1, i, 10, 1000, new string('a', 64), 407_730, new string('b', 64), 2000, 0.9, 0.3, 0.2, now) { State = VersionStates.Archived, StateReason = $"replaced by v{i + 1}" });
            registry.AddRound(new RoundRecord("bench", i, $"round-{i}", (ulong)i - 1, EdgeMlOps.Aggregator.Rounds.RoundStatus.Completed, 10, 10, 1000, 0, (ulong)i, now, now));
        }

        registry.SetState("bench", (ulong)(versions / 2), VersionStates.Deployed, "rolled out");
    }

    private static void Row<TBefore, TNow>(TextWriter output, string engine, string what, Func<TBefore> before, Func<TNow> now)
    {
        var (beforeMs, beforeBytes) = Median(before);
        var (nowMs, nowBytes) = Median(now);
        output.WriteLine($"{engine,-10}  {what,-29}  {beforeMs,9:F2} ({beforeBytes,11:N0})  {nowMs,12:F2} ({nowBytes,9:N0})   {beforeMs / nowMs,6:F0}x");
    }

    private static (double Ms, long Bytes) Median<T>(Func<T> read)
    {
        read(); // warm-up: the driver's first statement, the page cache
        var times = new List<double>();
        long bytes = 0;
        for (var i = 0; i < 5; i++)
        {
            var clock = Stopwatch.StartNew();
            var answer = read();
            times.Add(clock.Elapsed.TotalMilliseconds);
            bytes = JsonSerializer.SerializeToUtf8Bytes(answer, JsonOptions).LongLength;
        }

        times.Sort();
        return (times[2], bytes);
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { IncludeFields = true };
}
