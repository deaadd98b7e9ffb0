using EdgeMlOps.Aggregator.Governance;
using Microsoft.Data.Sqlite;

namespace EdgeMlOps.Aggregator.Tests.Governance;

public sealed class AuditLogTests
{
    private static (AuditLog Log, string Path) NewLog(int entries)
    {
        var path = Path.Combine(AggregatorFixture.TempDirectory(), "audit.db");
        var log = new AuditLog(path);
        var t0 = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
        for (var i = 1; i <= entries; i++) log.Append(t0.AddSeconds(i), i % 2 == 0 ? "alice" : "bob", "version.approved", $"model/m/v{i}", $"reason {i}", "validated", "approved");
        return (log, path);
    }

    private static void Sql(string path, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        Assert.True(cmd.ExecuteNonQuery() > 0, sql);
    }

    [Fact]
    public void IntactLog_Verifies_AndChainsEveryEntry()
    {
        var (log, _) = NewLog(5);
        using (log)
        {
            var result = log.Verify();
            Assert.True(result.Intact, result.Problem);
            Assert.Equal(5, result.Entries);
            var entries = log.Entries();
            Assert.Equal(AuditLog.Genesis, entries[0].PreviousHash);
            for (var i = 1; i < entries.Count; i++) Assert.Equal(entries[i - 1].Hash, entries[i].PreviousHash);
            Assert.Equal(entries[^1].Hash, result.HeadHash);
        }
    }

    /// <summary>
    /// A limited read is the newest entries, in order: the console asks for 200, and was shown the first 200 ever
    /// recorded — once the log was longer, no new approval, rollout or revocation appeared in it.
    /// </summary>
    [Fact]
    public void ALimitedRead_IsTheNewestEntries_InOrder_AndBeforePagesBack()
    {
        var (log, _) = NewLog(300);
        using (log)
        {
            Assert.Equal([299L, 300L], log.Entries(limit: 2).Select(e => e.Sequence));
            Assert.Equal([97L, 98L, 99L], log.Entries(limit: 3, before: 100).Select(e => e.Sequence));
            Assert.Equal(["model/m/v108", "model/m/v109"], log.Entries("model/m/v10", 2).Select(e => e.Subject)); // a subject prefix: v10 and v100..v109, the newest two
            Assert.Equal(300, log.Entries().Count);
        }
    }

    [Fact]
    public void EditedEntry_IsDetected()
    {
        var (log, path) = NewLog(5);
        using (log)
        {
            Sql(path, "UPDATE audit SET actor = 'mallory' WHERE seq = 3");
            var result = log.Verify();
            Assert.False(result.Intact);
            Assert.Equal(3, result.FirstBadSequence);
            Assert.Contains("edited", result.Problem, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void RemovedEntry_IsDetected()
    {
        var (log, path) = NewLog(5);
        using (log)
        {
            Sql(path, "DELETE FROM audit WHERE seq = 2");
            var result = log.Verify();
            Assert.False(result.Intact);
            Assert.Equal(3, result.FirstBadSequence);
        }
    }

    [Fact]
    public void ReorderedEntries_AreDetected()
    {
        var (log, path) = NewLog(5);
        using (log)
        {
            // Swap the content of entries 2 and 4, keeping their sequence numbers.
            Sql(path, """
                CREATE TEMP TABLE t AS SELECT * FROM audit WHERE seq IN (2, 4);
                UPDATE audit SET at_ms = (SELECT at_ms FROM t WHERE seq = 6 - audit.seq), actor = (SELECT actor FROM t WHERE seq = 6 - audit.seq),
                    subject = (SELECT subject FROM t WHERE seq = 6 - audit.seq), reason = (SELECT reason FROM t WHERE seq = 6 - audit.seq),
                    prev_hash = (SELECT prev_hash FROM t WHERE seq = 6 - audit.seq), hash = (SELECT hash FROM t WHERE seq = 6 - audit.seq)
                WHERE seq IN (2, 4);
                """);
            var result = log.Verify();
            Assert.False(result.Intact);
            Assert.Equal(2, result.FirstBadSequence);
        }
    }

    [Fact]
    public void EntriesCutFromTheEnd_AreDetectedAgainstTheHead()
    {
        var (log, path) = NewLog(5);
        using (log)
        {
            Sql(path, "DELETE FROM audit WHERE seq >= 4");
            var result = log.Verify();
            Assert.False(result.Intact);
            Assert.Equal(3, result.Entries);
            Assert.Contains("head", result.Problem, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void EntriesCutFromTheEnd_StayDetected_AfterReopening()
    {
        var (log, path) = NewLog(5);
        log.Dispose();
        Sql(path, "DELETE FROM audit WHERE seq >= 4");
        using var reopened = new AuditLog(path);
        Assert.Null(reopened.Recovered);
        Assert.False(reopened.Verify().Intact);
    }

    [Fact]
    public void AStopBetweenAnEntryAndItsHead_IsCaughtUpOnReopening_NotReportedAsTampering()
    {
        var (log, path) = NewLog(3);
        var headBefore = File.ReadAllText(path + ".head");
        log.Append(DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_100_000), "carol", "version.deployed", "model/m/v4", "r", "approved", "deployed");
        log.Dispose();
        File.WriteAllText(path + ".head", headBefore); // the process died after the commit, before the head file moved

        using var reopened = new AuditLog(path);
        Assert.Contains("the head recorded entry 3 but the log holds 4", reopened.Recovered, StringComparison.Ordinal);
        var result = reopened.Verify();
        Assert.True(result.Intact, result.Problem);
        Assert.Equal(4, result.Entries);
    }

    [Fact]
    public void AHeadThatIsNotInTheChain_IsNotCaughtUp()
    {
        var (log, path) = NewLog(3);
        log.Dispose();
        File.WriteAllText(path + ".head", "2 " + new string('a', 64) + "\n");
        using var reopened = new AuditLog(path);
        Assert.Null(reopened.Recovered);
        Assert.False(reopened.Verify().Intact);
    }
}
