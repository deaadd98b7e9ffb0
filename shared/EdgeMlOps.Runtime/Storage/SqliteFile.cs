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
        using var cmd = connection.CreateCommand();
        cmd.CommandText = $"PRAGMA journal_mode = WAL; PRAGMA synchronous = {(durable ? "FULL" : "NORMAL")}; PRAGMA cache_size = -{cacheKib};\n{schema}";
        cmd.ExecuteNonQuery();
        return connection;
    }
}
