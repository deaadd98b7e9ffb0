using EdgeMlOps.Runtime.Storage;

namespace EdgeMlOps.Runtime.Tests;

public sealed class SqliteFileTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "edgemlops-sqlite-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    private static string Pragma(Microsoft.Data.Sqlite.SqliteConnection connection, string name)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "PRAGMA " + name;
        return Convert.ToString(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture)!;
    }

    [Fact]
    public void Open_CreatesTheDirectory_InWal_WithTheRequestedCacheAndSync()
    {
        using (var device = SqliteFile.Open(Path.Combine(_directory, "nested", "device.db"), durable: false, "CREATE TABLE IF NOT EXISTS t(x);", SqliteFile.DeviceCacheKib))
        {
            Assert.Equal("wal", Pragma(device, "journal_mode"));
            Assert.Equal("-256", Pragma(device, "cache_size"));
            Assert.Equal("1", Pragma(device, "synchronous")); // NORMAL
        }

        using var server = SqliteFile.Open(Path.Combine(_directory, "server.db"), durable: true, "CREATE TABLE IF NOT EXISTS t(x);");
        Assert.Equal("-2000", Pragma(server, "cache_size"));
        Assert.Equal("2", Pragma(server, "synchronous")); // FULL
        Assert.Throws<ArgumentOutOfRangeException>(() => SqliteFile.Open(Path.Combine(_directory, "tiny.db"), durable: false, "", cacheKib: 8));
    }

    [Fact]
    public void InMemory_IsPrivatePerConnection_SmallPaged_WithoutLookaside_AndTouchesNoDisk()
    {
        var before = Directory.GetCurrentDirectory();
        using var a = SqliteFile.Open(SqliteFile.InMemory, durable: false, "CREATE TABLE IF NOT EXISTS t(x);", SqliteFile.DeviceCacheKib);
        using var b = SqliteFile.Open(SqliteFile.InMemory, durable: false, "CREATE TABLE IF NOT EXISTS t(x);", SqliteFile.DeviceCacheKib);
        using (var insert = a.CreateCommand())
        {
            insert.CommandText = "INSERT INTO t VALUES (1), (2)";
            insert.ExecuteNonQuery();
        }

        Assert.Equal("memory", Pragma(a, "journal_mode"));
        Assert.Equal("512", Pragma(a, "page_size"));
        using (var count = b.CreateCommand()) // b is its own database
        {
            count.CommandText = "SELECT COUNT(*) FROM t";
            Assert.Equal(0L, (long)count.ExecuteScalar()!);
        }

        Assert.Equal(0, SQLitePCL.raw.sqlite3_db_status(a.Handle, SQLitePCL.raw.SQLITE_DBSTATUS_LOOKASIDE_USED, out var used, out _, 0) == 0 ? used : -1);
        Assert.False(File.Exists(Path.Combine(before, SqliteFile.InMemory)));
    }
}
