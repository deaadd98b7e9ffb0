using EdgeMlOps.Aggregator.Replicas;
using EdgeMlOps.Aggregator.Tests.Storage;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Tests;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Aggregator.Tests.Replicas;

/// <summary>
/// A selected device revoked mid-round, with a replica beside the coordinator: the other device's update reaches
/// whichever of the two the shared subscription hands it to, and the coordinator — which sees a replica's updates only
/// through the shared store — still stops waiting as soon as nobody who can report is left, long before the deadline.
/// </summary>
public sealed class ReplicaRevocationTests
{
    [Fact]
    public async Task WithAReplica_ARevokedDeviceIsNotWaitedFor_WhicheverProcessTookTheOtherUpdate()
    {
        using var postgres = new TestPostgres();
        var hub = new InMemoryFleetHub();
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 2, deadlineSeconds: 120, quorum: 0.5) with
        {
            Store = postgres.Options,
            Replicas = new ReplicaOptions { Name = "r0", Members = ["r0", "r1"] },
        };
        await using var node = new AggregatorNode(options, channels: hub);
        await node.StartAsync(CancellationToken.None);
        await using var replica = new ReplicaWorker(options with { Replicas = options.Replicas with { Name = "r1" } }, hub, TimeProvider.System, NullLoggerFactory.Instance);
        await replica.StartAsync(CancellationToken.None);

        // Two rounds: the hub hands the shared subscription's messages out in turn, so one round's update goes to the
        // coordinator and the other's to the replica.
        for (var round = 1; round <= 2; round++)
        {
            await using var kept = new ScriptedDevice($"kept-{round}", "test", hub.Create(new FleetChannelOptions($"kept-{round}") { CleanStart = true }, NullLoggerFactory.Instance));
            await kept.ConnectAsync(samples: 10);
            await using var lost = new ScriptedDevice($"lost-{round}", "test", hub.Create(new FleetChannelOptions($"lost-{round}") { CleanStart = true }, NullLoggerFactory.Instance));
            await lost.ConnectAsync(samples: 10);
            await Eventually.Until(() => node.Devices.Eligible().Count == 2, "both devices eligible");

            var before = node.CurrentWeights.Values[0];
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var running = node.RunRoundAsync(CancellationToken.None);
            var task = await kept.NextTaskAsync(TimeSpan.FromSeconds(20));
            await lost.NextTaskAsync(TimeSpan.FromSeconds(20));
            await kept.PublishAsync("update", kept.Update(task, 0.02f, samples: 10));
            await node.RevokeDeviceAsync($"lost-{round}", "stolen", "ops");
            var report = await running.WaitAsync(TimeSpan.FromSeconds(60));

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"round {round} took {clock.Elapsed} (deadline 120 s)");
            Assert.Equal((EdgeMlOps.Aggregator.Rounds.RoundStatus.Completed, 1), (report.Status, report.Contributors));
            Assert.Equal(before + 0.02f, node.CurrentWeights.Values[0], 1e-5f);
            await node.RevokeDeviceAsync($"kept-{round}", "retired", "ops"); // not selected again
            await Eventually.Until(() => node.Devices.Eligible().Count == 0, "the round's devices gone");
        }

        Assert.Equal(1, replica.Accepted); // one of the two updates went through the replica and its share
    }
}
