using EdgeMlOps.Shared.Tracking;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// The edge tier (docs/SCALING.md, "Edge tier"): real agents on their sites' brokers, a real gateway per site between
/// that broker and the fleet's — the same model as a flat fleet, bit for bit (the exact sums do not depend on who adds
/// them), one partial per site and round instead of one update per device, and a site cut off from the fleet mid-round
/// that trains on and loses nothing when it is back.
/// </summary>
[Collection(FleetCollection.Name)]
public class EdgeTierTests
{
    private static string[] Federated(string devices) =>
        ["--dataset", "synthetic", "--devices", devices, "--rounds", "3", "--fraction", "0.5", "--hidden", "8", "--local-epochs", "1",
         "--seed", "9", "--quiet", "--out", "-", "--experiments", "off"];

    private static readonly string[] Memory = ["--transport", "memory", "--device-stores", "memory"];

    [Fact]
    public async Task GatewaysOnTheEmbeddedTlsBroker_MakeTheSameModelAsAFlatFleet_BitForBit_SendingOnePartialPerSiteAndRound()
    {
        var flat = await new SimulationRunner(SimulationOptions.Parse([.. Federated("40"), .. Memory])).RunAsync(CancellationToken.None);
        var edge = await new SimulationRunner(SimulationOptions.Parse([.. Federated("40"), "--edge-sites", "2"])).RunAsync(CancellationToken.None);

        Assert.All(edge.Rounds, r => Assert.Equal(("Completed", 20, 0L), (r.Status, r.Participants, r.Rejected)));
        Assert.Equal((6L, 40), (edge.EdgePartials.Partials, edge.DevicesOnline)); // 2 sites × 3 rounds; every device's status relayed up
        var same = RunComparison.Reproduction(flat.Run!, edge.Run!, 4);
        Assert.True(same.Identical, string.Join("; ", same.Reasons));
        Assert.Equal(3, same.VersionsCompared);

        // Upstream, each site's partial replaces ten devices' updates: the gateways send well under what their devices do.
        Assert.All(edge.Rounds, r => Assert.True(r.EdgeBytesUp < r.BytesUp * 0.7, $"{r.EdgeBytesUp} bytes upstream for {r.BytesUp} from the devices"));
    }

    /// <summary>
    /// A model line behind the gateways: its catalogue, statements and tasks relayed down; up, the gateways configured with
    /// the line fold its updates into partials as the first model's (one per site, line and round), and gateways that are
    /// not (a line added at run time) relay each update as the device sent it — either way the line trains exactly as in
    /// a flat fleet, and folding sends less upstream.
    /// </summary>
    [Fact]
    public async Task ALineBehindTheGateways_FoldedOrRelayed_TrainsAsInAFlatFleet_BitForBit()
    {
        string[] line = ["--line", "kws=mlp-12-16-3", "--edge-settle", "3"]; // a site's tasks may come more than a second apart on a loaded machine: wait for them, so a round's updates make one batch
        var flat = await new SimulationRunner(SimulationOptions.Parse([.. Federated("20"), .. Memory, .. line])).RunAsync(CancellationToken.None);
        var folded = await new SimulationRunner(SimulationOptions.Parse([.. Federated("20"), "--edge-sites", "2", .. line])).RunAsync(CancellationToken.None);
        var relayed = await new SimulationRunner(SimulationOptions.Parse([.. Federated("20"), "--edge-sites", "2", "--edge-lines", "relay", .. line])).RunAsync(CancellationToken.None);

        var flatLine = Assert.Single(flat.Lines).Rounds.Select(r => (r.Version, r.Participants, r.Accuracy));
        foreach (var edge in new[] { folded, relayed })
        {
            var kws = Assert.Single(edge.Lines);
            Assert.All(kws.Rounds, r => Assert.Equal(("Completed", 10, 10, 0L), (r.Status, r.Participants, r.Selected, r.Rejected)));
            Assert.Equal(flatLine, kws.Rounds.Select(r => (r.Version, r.Participants, r.Accuracy)));
            Assert.True(kws.FinalAccuracy > kws.InitialAccuracy, $"the line learned behind the gateways: {kws.InitialAccuracy:F4} → {kws.FinalAccuracy:F4}");
            Assert.All(edge.Rounds, r => Assert.Equal(("Completed", 10), (r.Status, r.Participants)));
            Assert.Equal(flat.Rounds.Select(r => (r.Version, r.Accuracy)), edge.Rounds.Select(r => (r.Version, r.Accuracy)));
        }

        Assert.Equal(6L, relayed.EdgePartials.Partials); // the first model's: 2 sites × 3 rounds
        // Of both models: one per site, model and round (12), and one more for each straggler whose update reached its
        // gateway after the site's batch went up — under load, even waiting 3 s for a site's tasks to settle —, but fewer
        // than the 6 + 30 messages the relaying gateways send for the same rounds.
        Assert.InRange(folded.EdgePartials.Partials, 12, relayed.EdgePartials.Partials + (3 * 10) - 1);
        // A straggler whose update reaches its gateway after the site's batch went up costs a partial of its own (about
        // an update's size for this small line), so a round with stragglers can send as much as relaying; compare rounds
        // where every update made its site's batch — the cheapest of each (in one run: 21,524 bytes against 25,504).
        Assert.True(folded.Rounds.Min(r => r.EdgeBytesUp) < relayed.Rounds.Min(r => r.EdgeBytesUp),
            $"the line's partials send less upstream than its relayed updates: folded {string.Join(", ", folded.Rounds.Select(r => r.EdgeBytesUp))} bytes ({folded.EdgePartials.Partials} partials), relayed {string.Join(", ", relayed.Rounds.Select(r => r.EdgeBytesUp))}");
    }

    /// <summary>
    /// Gateways beside aggregator replicas on PostgreSQL: the sites' partials go to the coordinator (their rounds are its),
    /// the first model is the flat fleet's bit for bit, and a line's updates relayed one by one by the gateways (which are
    /// not configured with it) are spread over the replicas as a flat fleet's are.
    /// </summary>
    [Fact]
    public async Task GatewaysBesideAggregatorReplicas_MakeTheFlatFleetsModel_AndALinesRelayedUpdatesAreSharedWithTheReplicas()
    {
        var work = Path.Combine(Path.GetTempPath(), "edgemlops-edge-replicas-" + Guid.NewGuid().ToString("N"));
        var flat = await new SimulationRunner(SimulationOptions.Parse([.. Federated("20"), .. Memory])).RunAsync(CancellationToken.None);
        var options = SimulationOptions.Parse([.. Federated("20"), .. Memory, "--edge-sites", "2", "--replicas", "2", "--store-postgres", EdgeMlOps.Tests.TestPostgres.Server,
            "--work-dir", work, "--line", "kws=mlp-12-16-3", "--edge-lines", "relay"]);
        SimulationResult edge;
        try
        {
            edge = await new SimulationRunner(options).RunAsync(CancellationToken.None);
        }
        finally
        {
            SimulationRunner.RemoveWork(work, options);
        }

        Assert.All(edge.Rounds, r => Assert.Equal(("Completed", 10, 0L), (r.Status, r.Participants, r.Rejected)));
        Assert.Equal(flat.Rounds.Select(r => (r.Version, r.Accuracy)), edge.Rounds.Select(r => (r.Version, r.Accuracy)));
        Assert.Equal(6L, edge.EdgePartials.Partials);
        var kws = Assert.Single(edge.Lines);
        Assert.All(kws.Rounds, r => Assert.Equal(("Completed", 10), (r.Status, r.Participants)));
        Assert.InRange(kws.ReplicaUpdates["r1"], 1, 29); // of the line's 30 updates, some went to the replica
        Assert.True(kws.FinalAccuracy > kws.InitialAccuracy + 0.2, $"the line learned: {kws.InitialAccuracy:F4} → {kws.FinalAccuracy:F4}");
    }

    [Fact]
    public async Task RegionalGatewaysOverTheSites_MakeTheSameModelAsAFlatFleet_BitForBit_SendingOnePartialPerRegionAndRound()
    {
        var flat = await new SimulationRunner(SimulationOptions.Parse([.. Federated("40"), .. Memory])).RunAsync(CancellationToken.None);
        var sites = await new SimulationRunner(SimulationOptions.Parse([.. Federated("40"), "--edge-sites", "4"])).RunAsync(CancellationToken.None);
        var regions = await new SimulationRunner(SimulationOptions.Parse([.. Federated("40"), "--edge-sites", "4", "--edge-regions", "2"])).RunAsync(CancellationToken.None);

        Assert.All(regions.Rounds, r => Assert.Equal(("Completed", 20, 0L), (r.Status, r.Participants, r.Rejected)));
        Assert.Equal((6L, 40), (regions.EdgePartials.Partials, regions.DevicesOnline)); // 2 regions × 3 rounds reach the fleet; every status relayed through two gateways
        var same = RunComparison.Reproduction(flat.Run!, regions.Run!, 4);
        Assert.True(same.Identical, string.Join("; ", same.Reasons));
        Assert.Equal(3, same.VersionsCompared);

        // The fleet's broker gets two regional partials per round instead of four sites' partials.
        Assert.Equal(12L, sites.EdgePartials.Partials);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(regions.Rounds[i].EdgeBytesUp < sites.Rounds[i].EdgeBytesUp * 0.8, $"round {i + 1}: {regions.Rounds[i].EdgeBytesUp} bytes from the regions, {sites.Rounds[i].EdgeBytesUp} from the sites");
        }
    }

    [Fact]
    public void EdgeRegions_AreRefusedWhereTheyCannotRun() =>
        Assert.Contains("--edge-regions: 3 regions need at least as many --edge-sites (2)", Assert.Throws<ArgumentException>(() =>
            SimulationOptions.Parse([.. Federated("40"), "--edge-sites", "2", "--edge-regions", "3"])).Message, StringComparison.Ordinal);

    [Fact]
    public async Task GatewaysBehindTheGeneratedTlsMosquitto_MakeTheSameModelAsAFlatFleet_BitForBit()
    {
        // Debian's Mosquitto configured as --write-mosquitto-config writes it, with the simulated sites' gateways in its ACL,
        // from the CA the simulator's aggregator then uses (its data directory is work/aggregator).
        var work = Path.Combine(Path.GetTempPath(), "edgemlops-edge-mosquitto-" + Guid.NewGuid().ToString("N"));
        await using var broker = await SecuredMosquitto.StartAsync(Path.Combine(work, "aggregator"), SimulatedData.Fleet, Path.Combine(work, "mosquitto"), SimulatedEdge.Options(2, 20));
        try
        {
            var flat = await new SimulationRunner(SimulationOptions.Parse([.. Federated("20"), .. Memory])).RunAsync(CancellationToken.None);
            var edge = await new SimulationRunner(SimulationOptions.Parse([
                .. Federated("20"), "--edge-sites", "2", "--broker", $"mqtts://127.0.0.1:{broker.Port}", "--work-dir", work])).RunAsync(CancellationToken.None);

            Assert.All(edge.Rounds, r => Assert.Equal(("Completed", 10, 0L), (r.Status, r.Participants, r.Rejected)));
            Assert.Equal((6L, 20), (edge.EdgePartials.Partials, edge.DevicesOnline));
            var same = RunComparison.Reproduction(flat.Run!, edge.Run!, 4);
            Assert.True(same.Identical, string.Join("; ", same.Reasons));
        }
        finally
        {
            SimulationRunner.RemoveWork(work, SimulationOptions.Parse(Federated("1")));
        }
    }

    [Fact]
    public async Task RealGatewayHosts_WithTheAgentsInWorkerProcesses_MakeTheSameModelAsAFlatFleet_BitForBit()
    {
        // Each site a gateway host as a gateway machine runs it (its own TLS broker, issued credentials); the agents in two
        // other processes enroll with the aggregator and then reach only their site's broker.
        var flat = await new SimulationRunner(SimulationOptions.Parse([.. Federated("20"), .. Memory])).RunAsync(CancellationToken.None);
        var edge = await new SimulationRunner(SimulationOptions.Parse([.. Federated("20"), "--edge-sites", "2", "--workers", "2", "--device-stores", "memory"])).RunAsync(CancellationToken.None);

        Assert.All(edge.Rounds, r => Assert.Equal(("Completed", 10, 0L), (r.Status, r.Participants, r.Rejected)));
        Assert.Equal((6L, 20), (edge.EdgePartials.Partials, edge.DevicesOnline));
        var same = RunComparison.Reproduction(flat.Run!, edge.Run!, 4);
        Assert.True(same.Identical, string.Join("; ", same.Reasons));

        // The same two site hosts below a real region host (its TLS broker their upstream, each with its own gateway
        // certificate; the fleet's broker knows the region only): the same model again, one partial per round at the fleet.
        var regional = await new SimulationRunner(SimulationOptions.Parse([.. Federated("20"), "--edge-sites", "2", "--edge-regions", "1", "--workers", "2", "--device-stores", "memory"])).RunAsync(CancellationToken.None);
        Assert.All(regional.Rounds, r => Assert.Equal(("Completed", 10, 0L), (r.Status, r.Participants, r.Rejected)));
        Assert.Equal((3L, 20), (regional.EdgePartials.Partials, regional.DevicesOnline));
        var again = RunComparison.Reproduction(flat.Run!, regional.Run!, 4);
        Assert.True(again.Identical, string.Join("; ", again.Reasons));
    }

    [Fact]
    public async Task DevicesBehindAGateway_DropOutAsTheRunSays()
    {
        // Wire faults act on a device's own channel, whichever broker it reaches: --dropout holds behind a gateway too.
        var result = await new SimulationRunner(SimulationOptions.Parse([
            .. Federated("20"), .. Memory, "--edge-sites", "2", "--over-selection", "1", "--dropout", "0.3", "--min-quorum", "0.3", "--deadline", "3"])).RunAsync(CancellationToken.None);

        Assert.All(result.Rounds, r => Assert.Equal(("Completed", 10), (r.Status, r.Selected)));
        Assert.True(result.Rounds.Sum(r => r.Selected - r.Participants) > 0, "no selected device dropped out (exactly 10 selected per round, none surplus)");
    }

    [Fact]
    public async Task AGatewayCutOffFromTheFleetMidRound_KeepsWhatItsSiteTrained_AndTheRoundCompletesWhenItIsBack_LosingNothing()
    {
        var progress = new StringWriter();
        var flat = await new SimulationRunner(SimulationOptions.Parse([.. Federated("20"), .. Memory])).RunAsync(CancellationToken.None);
        var cut = await new SimulationRunner(SimulationOptions.Parse([.. Federated("20"), .. Memory, "--edge-sites", "2", "--edge-outage", "0.2:4"]), progress: progress).RunAsync(CancellationToken.None);

        Assert.Contains("fault: gateway site-0 cut off from the fleet's broker 0.2 s into the rounds, for 4.0 s", progress.ToString(), StringComparison.Ordinal);
        Assert.All(cut.Rounds, r => Assert.Equal(("Completed", 10), (r.Status, r.Participants)));
        Assert.True(cut.Rounds[0].Seconds >= 3.5, $"round 1 closed after {cut.Rounds[0].Seconds:F2} s, before site-0 was back");
        var same = RunComparison.Reproduction(flat.Run!, cut.Run!, 4);
        Assert.True(same.Identical, string.Join("; ", same.Reasons));
    }

    [Fact]
    public async Task ARealGatewayHostWhosePathToTheFleetIsCutMidRound_ReconnectsAndLosesNothing()
    {
        // With worker processes the gateways are real hosts over TLS: the cut resets the gateway's TCP connection to the
        // fleet's broker and refuses new ones for 4 s, as a site losing its WAN does. Its site trains on; the gateway
        // reconnects by itself and sends what it kept — the same model as a flat fleet, bit for bit.
        var progress = new StringWriter();
        var flat = await new SimulationRunner(SimulationOptions.Parse([.. Federated("20"), .. Memory])).RunAsync(CancellationToken.None);
        var cut = await new SimulationRunner(
            SimulationOptions.Parse([.. Federated("20"), "--edge-sites", "2", "--workers", "2", "--device-stores", "memory", "--edge-outage", "0.2:4"]),
            progress: progress).RunAsync(CancellationToken.None);

        Assert.Contains("fault: gateway site-0 cut off from the fleet's broker 0.2 s into the rounds, for 4.0 s", progress.ToString(), StringComparison.Ordinal);
        Assert.All(cut.Rounds, r => Assert.Equal(("Completed", 10), (r.Status, r.Participants)));
        Assert.True(cut.Rounds[0].Seconds >= 3.5, $"round 1 closed after {cut.Rounds[0].Seconds:F2} s, before site-0 was back");
        Assert.Equal(6L, cut.EdgePartials.Partials);
        var same = RunComparison.Reproduction(flat.Run!, cut.Run!, 4);
        Assert.True(same.Identical, string.Join("; ", same.Reasons));
    }
}
