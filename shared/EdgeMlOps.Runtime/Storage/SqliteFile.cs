using Microsoft.Data.Sqlite;

namespace EdgeMlOps.Runtime.Storage;

/// <summary>How every SQLite store in the project is opened: its directory created, one unpooled connection, WAL journal.</summary>
public static class SqliteFile
{
    /// <summary>Page cache of a store on a device (KiB).</summary>
    public const int DeviceCacheKib = 256;

    /// <summary>
    /// A path that opens a private in-memory database instead of a file: no descriptors, nothing on disk,
    /// gone when the connection closes. For simulated devices only (a real device keeps its data).
    /// </summary>
    public const string InMemory = ":memory:";

    /// <param name="path">Database file.</param>
    /// <param name="durable">FULL sync (each commit reaches the disk) or NORMAL (commits survive a process crash, not a power cut).</param>
    /// <param name="schema">Statements run once after opening (CREATE TABLE IF NOT EXISTS ...).</param>
    /// <param name="cacheKib">Page cache of the connection in KiB (SQLite's default is 2,000). A device store keeps it
    /// small: its pages are in the OS page cache anyway, and a 400 KB update passing through the outbox would
    /// otherwise leave megabytes of cached pages in the agent's heap.</param>
    public static SqliteConnection Open(string path, bool durable, string schema, int cacheKib = 2000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cacheKib, 64);
        if (path != InMemory) Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        if (path == InMemory)
        {
            // SQLite gives every connection a lookaside allocator (1,200 slots, ~120 KB); tens of thousands of
            // simulated devices with two near-empty stores each cannot afford it.
            _ = SQLitePCL.raw.sqlite3_db_config(connection.Handle, SQLitePCL.raw.SQLITE_DBCONFIG_LOOKASIDE, IntPtr.Zero, 0, 0);
        }

        using var cmd = connection.CreateCommand();
        // An in-memory database is all cache: small pages keep a near-empty simulated device's store near 10 KB.
        cmd.CommandText = path == InMemory
            ? $"PRAGMA page_size = 512; PRAGMA cache_size = -{cacheKib};\n{schema}"
            : $"PRAGMA journal_mode = WAL; PRAGMA synchronous = {(durable ? "FULL" : "NORMAL")}; PRAGMA cache_size = -{cacheKib};\n{schema}";
        cmd.ExecuteNonQuery();
        return connection;
    }
}
