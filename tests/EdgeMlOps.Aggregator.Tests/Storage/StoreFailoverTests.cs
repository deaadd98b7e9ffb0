using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Aggregator.Storage;
using EdgeMlOps.Shared;

namespace EdgeMlOps.Aggregator.Tests.Storage;

/// <summary>
/// The database ends the aggregator's connections (a restart, a failover, an administrator): the next statement of
/// each store runs again on a fresh connection, and what was committed once is not recorded twice.
/// </summary>
public sealed class StoreFailoverTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);

    [Fact]
    public void DroppedConnections_AreReplaced_AndEveryStoreCarriesOn()
    {
        using var stores = new TestStores("postgresql");
        using var seen = new SeenMessages(stores.Databases.Open("messages.db", durable: false), TimeProvider.System);
        using var audit = new AuditLog(stores.Databases.Open("audit.db", durable: true), null);
        using var registry = new ModelRegistry(stores.Databases.Open("registry.db", durable: true));
        for (var i = 0; i < 5; i++)
        {
            Assert.True(seen.TryAdd("dev", $"before-{i}"));
            audit.Append(T0, "alice", "round.commit", $"round/{i}", "r", null, null);
            registry.AddRound(new RoundRecord("m", i + 1, $"r{i}", 1, EdgeMlOps.Aggregator.Rounds.RoundStatus.Completed, 1, 1, 1, 0, null, T0, T0));
        }

        Assert.True(stores.Postgres.DropConnections() > 0, "the stores held pooled connections to drop");
        Assert.True(seen.TryAdd("dev", "after"));
        Assert.False(seen.TryAdd("dev", "before-0"));
        audit.Append(T0, "alice", "round.commit", "round/after", "r", null, null);
        registry.AddRound(new RoundRecord("m", 6, "r6", 1, EdgeMlOps.Aggregator.Rounds.RoundStatus.Completed, 1, 1, 1, 0, null, T0, T0));
        Assert.Equal(6, registry.Rounds("m").Count);
        Assert.Equal(6, seen.Count);
        var chain = audit.Verify();
        Assert.True(chain.Intact, chain.Problem);
        Assert.Equal(6, chain.Entries);
    }

    [Fact]
    public void AFailoverThatEndsMorePooledConnectionsThanThereAreAttempts_CostsOneAttempt_NotTheStatement()
    {
        using var stores = new TestStores("postgresql");
        using var database = stores.Databases.Open("pool.db", durable: false);
        // Busy stores leave the pool holding more idle connections than a statement has attempts.
        var sessions = Enumerable.Range(0, SqlDatabase.MaxAttempts * 2).Select(_ => database.Open()).ToList();
        Assert.All(sessions, s => Assert.Equal(1, s.Long("SELECT 1")));
        sessions.ForEach(s => s.Dispose());

        Assert.True(stores.Postgres.DropConnections() >= SqlDatabase.MaxAttempts * 2, "the pool held the connections to drop");
        var attempts = 0;
        Assert.Equal(2, database.Run(s =>
        {
            attempts++;
            return s.Long("SELECT 2");
        }));
        Assert.True(attempts <= 2, $"{attempts} attempts: the dead pooled connections were tried one by one");
    }

    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public void AnIdRecordedByAnAttemptWhoseAcknowledgementWasLost_IsStillOurs(string engine)
    {
        using var stores = new TestStores(engine);
        using var seen = new SeenMessages(stores.Databases.Open("messages.db", durable: false), TimeProvider.System);
        Assert.True(seen.TryAdd("dev", "m-1", "claim-a"));
        Assert.True(seen.TryAdd("dev", "m-1", "claim-a")); // the retry of the same delivery
        Assert.False(seen.TryAdd("dev", "m-1", "claim-b")); // a redelivery
        Assert.False(seen.TryAdd("dev", "m-1"));
        Assert.Equal(1, seen.Count);
    }

    [Fact]
    public async Task AStoreThatCannotRecordAMessage_CostsThatMessageOnly_CountedAndLogged_NotTheReceiveLoop()
    {
        using var stores = new TestStores("postgresql");
        await using var node = new AggregatorNode(AggregatorFixture.Options(stores.Directory, clients: 1, deadlineSeconds: 3) with { Store = stores.Options });
        await node.StartAsync(CancellationToken.None);
        await using var device = new ScriptedDevice("d", "test", node);
        await device.ConnectAsync(5);
        await Eventually.Until(() => node.Devices.Eligible().Count == 1, "device eligible");

        // The worst a database does short of vanishing: the table is gone, and no retry brings it back.
        using (var database = stores.Databases.Open("messages.db", durable: false))
        using (var session = database.Open())
        {
            session.Execute("DROP TABLE seen_messages");
        }

        var round = node.RunRoundAsync(CancellationToken.None);
        var task = await device.NextTaskAsync(TimeSpan.FromSeconds(10));
        await device.PublishAsync("update", device.Update(task, 0.5f, 5));
        await device.PublishAsync("update", device.Update(task, 0.5f, 5));
        await Eventually.Until(() => node.Rejections[RejectionReason.StoreUnavailable] == 2, "both updates counted as unrecorded");
        Assert.NotEqual(RoundStatus.Completed, (await round).Status);
        // Statuses still flow through the same receive loop.
        await device.PublishAsync("status", new Shared.Protocol.V1.DeviceStatus { Header = device.Header(), State = Shared.Protocol.V1.DeviceState.Online, SampleCount = 42 });
        await Eventually.Until(() => node.Devices.Eligible().SingleOrDefault()?.SampleCount == 42, "the device's next status processed");
    }
}
