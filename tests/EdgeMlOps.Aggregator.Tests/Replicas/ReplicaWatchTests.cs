using EdgeMlOps.Aggregator.Replicas;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace EdgeMlOps.Aggregator.Tests.Replicas;

/// <summary>
/// The coordinator's judgement of a replica that is connected but takes no updates (its broker rule missing, so
/// Mosquitto drops its turn of the shared subscription): only rounds that fell short while updates were flowing count,
/// two in a row are reported, a share clears it, and a replica that is gone is not reported as starved.
/// </summary>
public sealed class ReplicaWatchTests
{
    private readonly FakeLogger _log = new();

    private static IReadOnlySet<string> Shares(params string[] replicas) => replicas.ToHashSet(StringComparer.Ordinal);

    [Fact]
    public void AConnectedReplica_WithoutAShareInTwoRoundsThatFellShort_IsReportedOnce_AndClearedByItsNextShare()
    {
        var watch = new ReplicaWatch("r1", _log);
        watch.Observe("m-r1", ["r2", "r3"], Shares("r3"), own: 5, fellShort: true);
        Assert.Equal(new Dictionary<string, int> { ["r2"] = 1, ["r3"] = 0 }, watch.SilentRounds);
        Assert.Empty(watch.Starved); // one such round can be chance (it joined late)

        watch.Observe("m-r2", ["r2", "r3"], Shares("r3"), own: 5, fellShort: true);
        Assert.Equal(["r2"], watch.Starved);
        var warning = Assert.Single(_log.Collector.GetSnapshot(), r => r.Level == LogLevel.Warning);
        Assert.Contains("Replica r2 is connected but took none of the updates in 2 rounds in a row", warning.Message, StringComparison.Ordinal);
        Assert.Contains("--write-mosquitto-config", warning.Message, StringComparison.Ordinal);

        watch.Observe("m-r3", ["r2", "r3"], Shares("r3"), own: 5, fellShort: true);
        Assert.Equal(3, watch.SilentRounds["r2"]);
        Assert.Single(_log.Collector.GetSnapshot(), r => r.Level == LogLevel.Warning); // said once, not every round

        watch.Observe("m-r4", ["r2", "r3"], Shares("r2", "r3"), own: 5, fellShort: false); // its rule written again
        Assert.Empty(watch.Starved);
        Assert.Contains(_log.Collector.GetSnapshot(), r => r.Message.Contains("Replica r2 takes its share of the updates again", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false, 5)] // the round reached its target: nothing went missing
    [InlineData(true, 2)] // fewer updates than members (coordinator, r2, r3) came at all: r2's turn may never have come
    public void ARoundThatShowsNothing_NeitherCountsNorClears(bool fellShort, long own)
    {
        var watch = new ReplicaWatch("r1", _log);
        watch.Observe("m-r1", ["r2", "r3"], Shares("r3"), own: 5, fellShort: true);

        watch.Observe("m-r2", ["r2", "r3"], Shares(), own, fellShort);
        watch.Observe("m-r3", ["r2", "r3"], Shares(), own, fellShort);
        Assert.Equal(1, watch.SilentRounds["r2"]);
        Assert.Empty(watch.Starved);
    }

    [Fact]
    public void AReplicaNoLongerConnected_OrTheCoordinatorItself_IsNotReported()
    {
        var watch = new ReplicaWatch("r1", _log);
        watch.Observe("m-r1", ["r1", "r2"], Shares(), own: 6, fellShort: true); // r1's own row, from before it took the lease
        watch.Observe("m-r2", ["r1", "r2"], Shares(), own: 6, fellShort: true);
        Assert.Equal(["r2"], watch.Starved);
        Assert.False(watch.SilentRounds.ContainsKey("r1"));

        watch.Observe("m-r3", [], Shares(), own: 6, fellShort: true); // r2 stopped: gone, not starved
        Assert.Empty(watch.SilentRounds);
        Assert.Empty(watch.Starved);
    }
}
