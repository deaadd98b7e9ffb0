using Microsoft.Data.Sqlite;

namespace EdgeMlOps.Runtime.Storage;

/// <summary>How every SQLite store in the project is opened: its directory created, one unpooled connection, WAL journal.</summary>
public static class SqliteFile
{
    /// <param name="path">Database file.</param>
    /// <param name="durable">FULL sync (each commit reaches the disk) or NORMAL (commits survive a process crash, not a power cut).</param>
    /// <param name="schema">Statements run once after opening (CREATE TABLE IF NOT EXISTS ...).</param>
    public static SqliteConnection Open(string path, bool durable, string schema)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = $"PRAGMA journal_mode = WAL; PRAGMA synchronous = {(durable ? "FULL" : "NORMAL")};\n{schema}";
        cmd.ExecuteNonQuery();
        return connection;
    }
}
