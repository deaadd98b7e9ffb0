using EdgeMlOps.Aggregator.Replicas;
using EdgeMlOps.Aggregator.Tests.Storage;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Protocol.V1;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Aggregator.Tests.Replicas;

/// <summary>A replica worker's rounds: found in the shared store once, and a round id that is not open asked about once.</summary>
public sealed class ReplicaRoundsTests
{
    [Fact]
    public void UpdatesNamingARoundThatIsNotOpen_AreRefused_AskingTheStoreOnce()
    {
        using var stores = new TestStores("sqlite");
        using var shares = new RoundShares(stores.Databases.Open("registry.db", durable: true));
        var options = AggregatorFixture.Options(stores.Directory, clients: 1) with { Replicas = new ReplicaOptions { Name = "b", Members = ["a", "b"] } };
        using var rounds = new ReplicaRounds(options, shares, TimeProvider.System, NullLogger.Instance);

        for (var i = 0; i < 50; i++)
        {
            var refused = rounds.Offer($"d{i}", new ModelUpdate { RoundId = "ghost-r1" });
            Assert.Equal(RejectionReason.UnknownRound, refused.Reason);
        }

        Assert.Equal(1, rounds.StoreLookups); // once per id, not once per update

        // Ids are remembered within a bound: a flood of invented ids does not grow the worker without limit.
        for (var i = 0; i < ReplicaRounds.MaxRememberedNotOpen + 10; i++) rounds.Offer("d0", new ModelUpdate { RoundId = $"ghost-{i}" });
        Assert.Equal(1 + ReplicaRounds.MaxRememberedNotOpen + 10, rounds.StoreLookups);
        Assert.InRange(rounds.RememberedNotOpen, 1, ReplicaRounds.MaxRememberedNotOpen);
    }
}
