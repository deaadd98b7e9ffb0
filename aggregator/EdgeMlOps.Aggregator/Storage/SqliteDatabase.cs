using EdgeMlOps.Runtime.Storage;
using Microsoft.Data.Sqlite;

namespace EdgeMlOps.Aggregator.Storage;

/// <summary>A store's own SQLite file: one connection (WAL), used by one session at a time; its pages are checked on opening.</summary>
public sealed class SqliteDatabase : SqlDatabase
{
    private readonly SqliteConnection _connection;
    private readonly object _gate = new();

    /// <param name="path">The database file.</param>
    /// <param name="durable">Sync every commit to disk (FULL), or only survive a killed process (NORMAL).</param>
    public SqliteDatabase(string path, bool durable)
    {
        _connection = SqliteFile.Open(path, durable, string.Empty);
        try
        {
            DamagedSqliteFile.Check(_connection);
        }
        catch
        {
            _connection.Dispose();
            throw;
        }
    }

    public override StoreEngine Engine => StoreEngine.Sqlite;

    public override SqlSession Open()
    {
        Monitor.Enter(_gate);
        return new SqlSession(Engine, _connection, () => Monitor.Exit(_gate));
    }

    public override void Dispose()
    {
        lock (_gate) _connection.Dispose();
    }
}
