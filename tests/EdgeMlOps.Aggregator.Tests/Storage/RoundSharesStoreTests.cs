using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Aggregator.Replicas;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Storage;

/// <summary>The store replicas share rounds through: claims once per device and round, shares only while the round is open.</summary>
public sealed class RoundSharesStoreTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);

    private static SharedRound Round(string id) => new(id, "m", 3, 7, ["a", "b", "c"], 10, 2, 3, ulong.MaxValue - 1, T0.AddMinutes(1));

    private static PartialAggregate Share(string round, string replica, uint count) =>
        new() { RoundId = round, Replica = replica, Count = count, TotalWeight = count, Sum = { 1.0, 2.0 } };

    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public void ARound_IsFoundWhileOpen_ClaimedOncePerDevice_AndTakesSharesUntilItCloses(string engine)
    {
        using var stores = new TestStores(engine);
        using var shares = new RoundShares(stores.Databases.Open("registry.db", durable: true));
        Assert.Null(shares.FindOpen("r1"));
        Assert.Equal(ClaimOutcome.RoundClosed, shares.Claim("r1", "a", "c1")); // no such round: nobody can claim in it
        shares.Open(Round("r1"), T0);

        var found = shares.FindOpen("r1")!;
        Assert.Equal(Round("r1") with { Selected = found.Selected }, found);
        Assert.Equal(["a", "b", "c"], found.Selected);
        Assert.Equal(ClaimOutcome.Claimed, shares.Claim("r1", "a", "c1"));
        Assert.Equal(ClaimOutcome.Claimed, shares.Claim("r1", "a", "c1"));  // the same claim again (a retry after a lost acknowledgement)
        Assert.Equal(ClaimOutcome.ClaimedElsewhere, shares.Claim("r1", "a", "c2")); // another replica's claim for the same device
        Assert.Equal(ClaimOutcome.Claimed, shares.Claim("r1", "c", "c5"));
        Assert.Equal(["a", "c"], shares.Claimed("r1").Order()); // who reported anywhere (a coordinator waiting on revoked devices reads it)
        Assert.Empty(shares.Claimed("r0"));

        Assert.True(shares.TryWrite(Share("r1", "x", 1)));
        Assert.True(shares.TryWrite(Share("r1", "x", 2))); // a later share replaces the earlier
        Assert.True(shares.TryWrite(Share("r1", "y", 4)));
        Assert.Equal(6, shares.SharedUpdates("r1"));

        var closed = shares.Close("r1");
        Assert.Equal([("x", 2u), ("y", 4u)], closed.Select(s => (s.Replica, s.Count)));
        Assert.Equal([1.0, 2.0], closed[0].Sum);
        Assert.False(shares.TryWrite(Share("r1", "x", 3))); // too late
        Assert.Equal(ClaimOutcome.RoundClosed, shares.Claim("r1", "b", "c3")); // a late update is told so, not called a duplicate
        Assert.Equal(ClaimOutcome.ClaimedElsewhere, shares.Claim("r1", "a", "c4"));
        Assert.Null(shares.FindOpen("r1"));
    }

    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public void AReplicasPresence_IsItsLastWord_ReadByHowRecentItIs(string engine)
    {
        using var stores = new TestStores(engine);
        using var shares = new RoundShares(stores.Databases.Open("registry.db", durable: true));
        Assert.Empty(shares.PresentSince(T0));
        shares.Present("r2", T0);
        shares.Present("r3", T0.AddSeconds(1));
        shares.Present("r2", T0.AddSeconds(4)); // renewed: one row, the newest time

        Assert.Equal(["r2", "r3"], shares.PresentSince(T0));
        Assert.Equal(["r2"], shares.PresentSince(T0.AddSeconds(2)));
        Assert.Empty(shares.PresentSince(T0.AddSeconds(5)));
    }

    [Fact]
    public async Task OnPostgreSql_AShareIsEitherReadByTheCloseOrRefused_NeverWrittenAfterIt()
    {
        using var stores = new TestStores("postgresql");
        using var other = stores.Reopen();
        using var coordinator = new RoundShares(stores.Databases.Open("registry.db", durable: true));
        using var replica = new RoundShares(other.Open("registry.db", durable: true));
        for (var i = 0; i < 20; i++)
        {
            var round = $"r{i}";
            coordinator.Open(Round(round), T0);
            var written = 0u;
            var writer = Task.Run(() =>
            {
                for (var n = 1u; n < 200 && replica.TryWrite(Share(round, "x", n)); n++) written = n;
            });
            await Task.Delay(i % 5);
            var read = coordinator.Close(round);
            await writer;

            // What the close read is the last share the replica managed to write: nothing written after it was accepted.
            Assert.Equal(written, read.Count == 0 ? 0u : read[0].Count);
        }
    }
}
