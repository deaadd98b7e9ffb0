using System.Text.Json;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// The simulator with model lines (<c>--line NAME=mlp-D-H-C</c>): every real agent runs a second model on its one
/// connection, fed its part of the line's own data; the line's rounds run beside the first model's, learn, and leave the
/// first model's rounds exactly as they are without the line.
/// </summary>
[Collection(FleetCollection.Name)]
public class SimulatedLinesTests
{
    private static string[] Run(params string[] more) =>
        ["--dataset", "synthetic", "--devices", "12", "--rounds", "3", "--fraction", "0.5", "--hidden", "16", "--local-epochs", "2", "--seed", "4", "--quiet", "--out", "-", "--experiments", "off", .. more];

    [Fact]
    public async Task ALine_TrainsOnItsOwnData_BesideTheFirstModel_WhichItLeavesBitForBitAsItWas()
    {
        var alone = await new SimulationRunner(SimulationOptions.Parse(Run())).RunAsync(CancellationToken.None);
        var both = await new SimulationRunner(SimulationOptions.Parse(Run("--line", "kws=mlp-12-16-3"))).RunAsync(CancellationToken.None);

        var line = Assert.Single(both.Lines);
        Assert.Equal(("kws", "mlp-12-16-3"), (line.Name, line.Model));
        Assert.All(line.Rounds, r => Assert.Equal(("Completed", 6, 6), (r.Status, r.Participants, r.Selected)));
        Assert.Equal([2UL, 3UL, 4UL], line.Rounds.Select(r => r.Version));
        Assert.True(line.FinalAccuracy > line.InitialAccuracy + 0.2, $"the line learned: {line.InitialAccuracy:F4} → {line.FinalAccuracy:F4}");

        // The first model's rounds are those of the run without the line: the same selections, updates and versions.
        Assert.Equal(alone.Rounds.Select(r => (r.Version, r.Participants, r.Accuracy)), both.Rounds.Select(r => (r.Version, r.Participants, r.Accuracy)));
        Assert.Equal(alone.FinalAccuracy, both.FinalAccuracy);

        using var json = new MemoryStream();
        both.WriteJson(json);
        var written = JsonDocument.Parse(json.ToArray()).RootElement.GetProperty("lines").GetProperty("kws");
        Assert.Equal(line.FinalAccuracy, written.GetProperty("finalAccuracy").GetDouble(), 6);
        Assert.Equal(3, written.GetProperty("rounds").GetArrayLength());
    }

    [Fact]
    public async Task ALine_WithTwoReplicasOnPostgreSql_SharesItsUpdatesAndLearns_AndItsSchemaGoesWithTheRun()
    {
        var work = Path.Combine(Path.GetTempPath(), "edgemlops-lines-replicas-" + Guid.NewGuid().ToString("N"));
        var options = SimulationOptions.Parse(Run("--line", "kws=mlp-12-16-3", "--replicas", "2", "--store-postgres", EdgeMlOps.Tests.TestPostgres.Server,
            "--transport", "memory", "--device-stores", "memory", "--work-dir", work));
        SimulationResult result;
        try
        {
            result = await new SimulationRunner(options).RunAsync(CancellationToken.None);
            Assert.Contains(SimulatedStore.SchemaOf(work) + "_line_kws", Schemas());
        }
        finally
        {
            SimulationRunner.RemoveWork(work, options);
        }

        Assert.All(result.Rounds, r => Assert.Equal(("Completed", 6), (r.Status, r.Participants)));
        Assert.InRange(result.ReplicaUpdates["r1"], 1, 17); // the first model's updates are shared
        var line = Assert.Single(result.Lines);
        Assert.All(line.Rounds, r => Assert.Equal(("Completed", 6), (r.Status, r.Participants)));
        Assert.InRange(line.ReplicaUpdates["r1"], 1, 17); // the line's are shared too, through a worker of its own
        Assert.True(line.FinalAccuracy > line.InitialAccuracy + 0.2, $"the line learned: {line.InitialAccuracy:F4} → {line.FinalAccuracy:F4}");
        Assert.DoesNotContain(Schemas(), s => s.StartsWith(SimulatedStore.SchemaOf(work), StringComparison.Ordinal)); // the run's and its line's
    }

    private static List<string> Schemas()
    {
        using var connection = new Npgsql.NpgsqlConnection(EdgeMlOps.Tests.TestPostgres.Server);
        connection.Open();
        using var command = new Npgsql.NpgsqlCommand("SELECT nspname FROM pg_namespace", connection);
        using var reader = command.ExecuteReader();
        var names = new List<string>();
        while (reader.Read()) names.Add(reader.GetString(0));
        return names;
    }

    [Fact]
    public void ALineThatCannotRun_IsRefused_SayingWhy()
    {
        string[] Problems(params string[] args) => Assert.Throws<ArgumentException>(() => SimulationOptions.Parse(args)).Message.Split(Environment.NewLine);
        Assert.Contains(Problems("--line", "kws"), p => p.StartsWith("--line: 'kws' is not NAME=MODEL", StringComparison.Ordinal));
        Assert.Contains(Problems("--line", "kws=mlp-x"), p => p.StartsWith("--line: 'kws=mlp-x':", StringComparison.Ordinal));
        Assert.Contains(Problems("--line", "kws=mlp-4-2", "--line", "kws=mlp-6-2"), p => p == "--line: 'kws' names two models");
        Assert.Contains(Problems("--line", "kws=mlp-4-2", "--workers", "2"), p => p.StartsWith("--line: model lines run in the federated scenario's synchronous rounds", StringComparison.Ordinal));
        Assert.Equal(2, SimulationOptions.Parse(["--line", "kws=mlp-4-2", "--replicas", "2", "--store-postgres", "Host=db", "--transport", "memory"]).Replicas); // the line in the coordinator
        Assert.Equal("kws", Assert.Single(SimulationOptions.Parse(["--line", "kws=mlp-4-2"]).Lines).Name);
    }
}
