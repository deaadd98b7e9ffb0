using EdgeMlOps.Aggregator.Pipeline;
using EdgeMlOps.Shared.Tracking;
using EdgeMlOps.Tests;
using Npgsql;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// Whole fleets with the aggregator's tables in PostgreSQL (Debian's server, started by <c>.ci/run</c>): the same
/// model as on SQLite, bit for bit, and the governed loop — registry states, rounds, pipeline runs, approvals, the
/// audit chain, rollouts — end to end.
/// </summary>
[Collection(FleetCollection.Name)]
public class PostgresFleetTests
{
    private static string[] Federated(int rounds) =>
        ["--dataset", "synthetic", "--devices", "20", "--rounds", rounds.ToString(System.Globalization.CultureInfo.InvariantCulture), "--fraction", "0.5", "--hidden", "8",
         "--seed", "5", "--quiet", "--out", "-", "--experiments", "off"];

    private static long SimulatorSchemas()
    {
        using var connection = new NpgsqlConnection(TestPostgres.Server);
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM pg_namespace WHERE nspname LIKE 'edgemlops\\_sim\\_%'";
        return (long)cmd.ExecuteScalar()!;
    }

    [Fact]
    public async Task FederatedRun_OnPostgreSql_MakesTheSameVersionsAsOnSqlite_AndRemovesItsSchema()
    {
        var before = SimulatorSchemas();
        var onSqlite = await new SimulationRunner(SimulationOptions.Parse(Federated(3))).RunAsync(CancellationToken.None);
        var onPostgres = await new SimulationRunner(SimulationOptions.Parse([.. Federated(3), "--store-postgres", TestPostgres.Server])).RunAsync(CancellationToken.None);

        Assert.Equal([2UL, 3UL, 4UL], onPostgres.Rounds.Select(r => r.Version));
        Assert.All(onPostgres.Rounds, r => Assert.Equal("Completed", r.Status));
        var same = RunComparison.Reproduction(onSqlite.Run!, onPostgres.Run!, 4);
        Assert.True(same.Identical, string.Join("; ", same.Reasons));
        Assert.Equal(3, same.VersionsCompared);
        Assert.Equal(before, SimulatorSchemas());
        Assert.DoesNotContain(onPostgres.Run!.Arguments, a => a.Contains("Password", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task TheDatabaseDroppingTheAggregatorsConnections_AllRunLong_CostsNoRoundAndNoUpdate()
    {
        var application = "fleet-failover-" + Guid.NewGuid().ToString("N")[..8];
        var server = new NpgsqlConnectionStringBuilder(TestPostgres.Server) { ApplicationName = application }.ConnectionString;
        using var stop = new CancellationTokenSource();
        var dropped = 0;
        var failovers = Task.Run(async () =>
        {
            // From the aggregator's first statement (its migrations) to the last, every 300 ms: more often than any
            // failover, yet a statement can finish between two drops on a loaded machine (every 100 ms, a migration step
            // taking longer than that under load never did, and the start gave up after its 20 attempts).
            while (!stop.IsCancellationRequested)
            {
                dropped += TestPostgres.DropConnections(application);
                await Task.Delay(300);
            }
        });
        string[] args = [.. Federated(10), "--store-postgres", server];
        var result = await new SimulationRunner(SimulationOptions.Parse(args)).RunAsync(CancellationToken.None);
        await stop.CancelAsync();
        await failovers;

        Assert.True(dropped >= 5, $"only {dropped} connections were dropped");
        Assert.Equal(Enumerable.Range(2, 10).Select(v => (ulong)v), result.Rounds.Select(r => r.Version));
        Assert.All(result.Rounds, r =>
        {
            Assert.Equal("Completed", r.Status);
            Assert.Equal(10, r.Participants);
            Assert.Equal(0, r.Rejected);
        });
    }

    [Fact]
    public async Task RetrainingLoop_OnPostgreSql_RunsEveryStep_AndKeepsAnIntactAuditChain()
    {
        var options = SimulationOptions.Parse(["--scenario", "retraining", "--dataset", "synthetic", "--devices", "40", "--rounds", "3", "--fraction", "0.5", "--seed", "2",
            "--quiet", "--out", "-", "--store-postgres", TestPostgres.Server]);
        var result = await new RetrainingScenario(options).RunAsync(offset: 6, windowSeconds: 4, windowsBefore: 3, windowsAfter: 2, CancellationToken.None);

        Assert.Equal(PipelineStage.Completed, result.Run.Stage);
        Assert.All(result.Run.Gates, g => Assert.True(g.Passed, $"{g.Gate}: {g.Detail}"));
        Assert.Equal(["ops-alice", "ops-carol"], result.Run.Approvals);
        Assert.Equal(result.Run.Candidate, result.DeployedAfter);
        Assert.True(result.DeployedAfter > result.DeployedBefore);
        Assert.True(result.AuditIntact);
    }
}
