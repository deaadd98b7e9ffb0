using EdgeMlOps.Shared.Tracking;
using EdgeMlOps.Tests;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// Aggregator replicas sharing rounds (docs/SCALING.md, "Aggregator replicas"): device updates spread over the
/// coordinator and its replicas by a shared subscription, each replica's share written to PostgreSQL, the coordinator
/// combining them — the same model as one aggregator, and rounds that complete when a replica dies.
/// </summary>
[Collection(FleetCollection.Name)]
public class AggregatorReplicaTests
{
    private static string[] Federated(string rounds, string devices) =>
        ["--dataset", "synthetic", "--devices", devices, "--rounds", rounds, "--fraction", "0.5", "--hidden", "8", "--local-epochs", "1",
         "--seed", "9", "--quiet", "--out", "-", "--experiments", "off", "--store-postgres", TestPostgres.Server];

    [Fact]
    public async Task TwoReplicas_MakeTheSameModelAsOneAggregator_BitForBit_EachTakingPartOfTheUpdates()
    {
        string[] memory = ["--transport", "memory", "--device-stores", "memory"];
        var one = await new SimulationRunner(SimulationOptions.Parse([.. Federated("3", "20"), .. memory])).RunAsync(CancellationToken.None);
        var two = await new SimulationRunner(SimulationOptions.Parse([.. Federated("3", "20"), .. memory, "--replicas", "2"])).RunAsync(CancellationToken.None);

        Assert.All(two.Rounds, r => Assert.Equal(("Completed", 10), (r.Status, r.Participants)));
        var replica = Assert.Single(two.ReplicaUpdates);
        Assert.InRange(replica.Value, 1, 29); // of 30 updates: the hub hands them out in turn, so both sides take some
        var same = RunComparison.Reproduction(one.Run!, two.Run!, 4);
        Assert.True(same.Identical, string.Join("; ", same.Reasons));
        Assert.Equal(3, same.VersionsCompared);
    }

    [Fact]
    public async Task ThreeReplicasBehindMosquitto_ShareTheUpdates_AndAReplicaKilledMidRound_CostsNoRound()
    {
        await using var mosquitto = await PlainMosquitto.StartAsync();

        // Uploads spread over 3 s of each round, so the kill at 4 s falls inside round 2 with updates still arriving.
        var result = await new SimulationRunner(SimulationOptions.Parse([
            .. Federated("3", "30"), "--broker", mosquitto.Url, "--replicas", "3", "--check-in-window", "3", "--deadline", "8",
            "--replica-crash-after", "4"])).RunAsync(CancellationToken.None);

        // The rounds the kill does not fall in get all 15 updates; in the one it falls in (round 2 on an idle machine)
        // the updates the killed replica took after its last share are lost, never counted twice: that round closes
        // at its target or at its deadline above quorum.
        Assert.All(result.Rounds, r => Assert.Equal("Completed", r.Status));
        Assert.All(result.Rounds, r => Assert.InRange(r.Participants, 8, 15));
        Assert.True(result.Rounds.Count(r => r.Participants == 15) >= 2, string.Join(", ", result.Rounds.Select(r => r.Participants)));
        Assert.Equal(2, result.ReplicaUpdates.Count);
        Assert.All(result.ReplicaUpdates.Values, taken => Assert.True(taken > 0, "every replica took updates through the shared subscription"));
        Assert.True(result.ReplicaUpdates["r1"] < result.ReplicaUpdates["r2"], $"the killed replica took fewer: {result.ReplicaUpdates["r1"]} vs {result.ReplicaUpdates["r2"]}");
        Assert.Equal([2UL, 3UL, 4UL], result.Rounds.Select(r => r.Version));
    }

    /// <summary>
    /// The replica in a process of its own (<c>--replica-processes</c>), killed with SIGKILL while round 2's updates
    /// arrive: the broker's shared subscription and PostgreSQL see a real process die (its connections reset by the
    /// kernel, not closed). The kill costs that round at most what the replica held unwritten — never an update counted
    /// twice — the other rounds get all 15, and every version is committed.
    /// </summary>
    [Fact]
    public async Task AReplicaProcessKilledWithSigkillMidRound_CostsNoRound_AndCountsNoUpdateTwice()
    {
        await using var mosquitto = await PlainMosquitto.StartAsync();
        var progress = new StringWriter();
        var result = await new SimulationRunner(SimulationOptions.Parse([
            .. Federated("4", "30"), "--broker", mosquitto.Url, "--replicas", "2", "--replica-processes", "--check-in-window", "3", "--deadline", "8",
            "--replica-crash-after", "4"]), progress: progress).RunAsync(CancellationToken.None);

        Assert.Contains("fault: replica r1 crashed 4.0 s into the rounds (its process killed with SIGKILL)", progress.ToString(), StringComparison.Ordinal);
        Assert.All(result.Rounds, r => Assert.Equal("Completed", r.Status));
        Assert.All(result.Rounds, r => Assert.InRange(r.Participants, 8, 15));
        Assert.True(result.Rounds.Count(r => r.Participants == 15) >= 3, string.Join(", ", result.Rounds.Select(r => r.Participants)));
        Assert.Equal(15, result.Rounds[^1].Participants); // after the kill the coordinator takes every update

        // The broker shared the updates while the process lived (about half of rounds 1 and 2: ~15); alive through all
        // four rounds it would have taken ~30 of the 60.
        Assert.InRange(result.ReplicaUpdates["r1"], 1, 20);
        Assert.Equal([2UL, 3UL, 4UL, 5UL], result.Rounds.Select(r => r.Version));
    }

    [Fact]
    public async Task AnAggregatorTurnedIntoAReplicaCoordinator_DropsThePlainSubscriptionItsSessionKept_SoNoUpdateArrivesTwice()
    {
        await using var mosquitto = await PlainMosquitto.StartAsync();
        string[] broker = ["--broker", mosquitto.Url];

        // First alone (its persistent session subscribes to every update), then with a replica on the same broker.
        var alone = await new SimulationRunner(SimulationOptions.Parse([.. Federated("1", "20"), .. broker])).RunAsync(CancellationToken.None);
        var shared = await new SimulationRunner(SimulationOptions.Parse([.. Federated("2", "20"), .. broker, "--replicas", "2"])).RunAsync(CancellationToken.None);

        Assert.Equal(("Completed", 10), (alone.Rounds[0].Status, alone.Rounds[0].Participants));
        Assert.All(shared.Rounds, r => Assert.Equal(("Completed", 10, 0), (r.Status, r.Participants, r.Rejected)));
        Assert.InRange(shared.ReplicaUpdates["r1"], 1, 19);
    }

    [Fact]
    public async Task TwoReplicasBehindTheGeneratedTlsMosquitto_EachWithItsOwnCertificate_ShareTheRounds_AndAModelLinesToo()
    {
        // The broker configured as --write-mosquitto-config writes it (TLS, client certificates, the ACL with replica r1
        // and model line kws), from the CA the simulator's aggregator then uses (its data directory is work/aggregator).
        var work = Path.Combine(Path.GetTempPath(), "edgemlops-replica-tls-" + Guid.NewGuid().ToString("N"));
        await using var broker = await SecuredMosquitto.StartAsync(Path.Combine(work, "aggregator"), SimulatedData.Fleet, Path.Combine(work, "mosquitto"), lines: ["kws"]);
        try
        {
            var result = await new SimulationRunner(SimulationOptions.Parse([
                .. Federated("2", "20"), "--broker", $"mqtts://127.0.0.1:{broker.Port}", "--replicas", "2", "--work-dir", work, "--line", "kws=mlp-12-16-3"])).RunAsync(CancellationToken.None);

            Assert.All(result.Rounds, r => Assert.Equal(("Completed", 10, 0), (r.Status, r.Participants, r.Rejected)));
            Assert.InRange(result.ReplicaUpdates[SecuredMosquitto.Replica], 1, 19); // its certificate's name is its client id: no session taken over

            // The line's updates through the same shared subscription group, the replica's line worker connected as aggregator-replica-r1_kws.
            var line = Assert.Single(result.Lines);
            Assert.All(line.Rounds, r => Assert.Equal(("Completed", 10, 0), (r.Status, r.Participants, r.Rejected)));
            Assert.InRange(line.ReplicaUpdates[SecuredMosquitto.Replica], 1, 19);
            Assert.Empty(line.ReplicasStarved); // its rule is there: it takes its turn
            Assert.Empty(result.ReplicasStarved);
        }
        finally
        {
            SimulationRunner.RemoveWork(work, SimulationOptions.Parse(Federated("1", "1")));
        }
    }

    [Fact]
    public async Task AReplicaTheBrokerDeniesALinesUpdates_IsReportedAsStarved_ByThatLinesCoordinator()
    {
        // Mosquitto configured before the line existed for this replica: its line worker connects and subscribes, and the
        // broker drops its turn of the line's updates without a word. The line's rounds fall short; the coordinator says who.
        var work = Path.Combine(Path.GetTempPath(), "edgemlops-replica-starved-" + Guid.NewGuid().ToString("N"));
        await using var broker = await SecuredMosquitto.StartAsync(
            Path.Combine(work, "aggregator"), SimulatedData.Fleet, Path.Combine(work, "mosquitto"), lines: ["kws"], withoutRulesFor: [$"aggregator-replica-{SecuredMosquitto.Replica}_kws"]);
        try
        {
            var result = await new SimulationRunner(SimulationOptions.Parse([
                .. Federated("3", "20"), "--broker", $"mqtts://127.0.0.1:{broker.Port}", "--replicas", "2", "--work-dir", work, "--line", "kws=mlp-12-16-3",
                "--deadline", "5"])).RunAsync(CancellationToken.None);

            Assert.All(result.Rounds, r => Assert.Equal(10, r.Participants)); // the first model's worker has its rule: nothing lost
            Assert.Empty(result.ReplicasStarved);
            var line = Assert.Single(result.Lines);
            Assert.All(line.Rounds, r => Assert.InRange(r.Participants, 1, 9)); // the replica's turn of the updates dropped
            Assert.Equal(0, line.ReplicaUpdates.GetValueOrDefault(SecuredMosquitto.Replica));
            Assert.Equal([SecuredMosquitto.Replica], line.ReplicasStarved);
        }
        finally
        {
            SimulationRunner.RemoveWork(work, SimulationOptions.Parse(Federated("1", "1")));
        }
    }
}
