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
}
