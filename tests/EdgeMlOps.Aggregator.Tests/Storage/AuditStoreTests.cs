using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Storage;

namespace EdgeMlOps.Aggregator.Tests.Storage;

/// <summary>The audit chain on both engines: tampering is found wherever the log lives, and replicas appending together keep one chain.</summary>
public sealed class AuditStoreTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);

    private static AuditLog Open(TestStores stores, StoreDatabases databases) =>
        new(databases.Open("audit.db", durable: true), stores.Options.Engine == StoreEngine.Sqlite ? Path.Combine(stores.Directory, "audit.db.head") : null);

    /// <summary>SQL run by someone with write access to the database, not through the log.</summary>
    private static void Tamper(TestStores stores, string sql)
    {
        using var databases = stores.Reopen();
        using var database = databases.Open("audit.db", durable: true);
        using var session = database.Open();
        Assert.True(session.Execute(sql) > 0, sql);
    }

    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public void AnEditedEntry_AndEntriesCutFromTheEnd_AreFound(string engine)
    {
        using var stores = new TestStores(engine);
        using var log = Open(stores, stores.Databases);
        for (var i = 1; i <= 6; i++) log.Append(T0.AddSeconds(i), "alice", "version.approved", $"model/m/v{i}", $"reason {i}", "validated", i % 2 == 0 ? null : "approved");
        var intact = log.Verify();
        Assert.True(intact.Intact, intact.Problem);
        Assert.Equal(6, intact.Entries);
        Assert.Equal(["model/m/v1"], log.Entries("model/m/v1").Select(e => e.Subject));
        Assert.Equal(2, log.Entries(limit: 2).Count);
        Assert.Null(log.Entries()[1].After);

        Tamper(stores, "DELETE FROM audit WHERE seq >= 5");
        var cut = log.Verify();
        Assert.False(cut.Intact);
        Assert.Equal(4, cut.Entries);
        Assert.Contains("head", cut.Problem, StringComparison.Ordinal);

        Tamper(stores, "UPDATE audit SET actor = 'mallory' WHERE seq = 3");
        var edited = log.Verify();
        Assert.False(edited.Intact);
        Assert.Equal(3, edited.FirstBadSequence);
        Assert.Contains("edited", edited.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReplicasAppendingTogether_OnPostgreSql_KeepOneUnbrokenChain()
    {
        using var stores = new TestStores("postgresql");
        using var otherDatabases = stores.Reopen();
        using var first = Open(stores, stores.Databases);
        using var second = Open(stores, otherDatabases);
        await Task.WhenAll(
            Task.Run(() => { for (var i = 0; i < 60; i++) first.Append(T0, "replica-a", "round.commit", $"round/{i}", "r", null, null); }),
            Task.Run(() => { for (var i = 0; i < 60; i++) second.Append(T0, "replica-b", "round.commit", $"round/{i}", "r", null, null); }));
        var result = first.Verify();
        Assert.True(result.Intact, result.Problem);
        Assert.Equal(120, result.Entries);
        Assert.Equal(result.HeadHash, second.Verify().HeadHash);
    }
}
