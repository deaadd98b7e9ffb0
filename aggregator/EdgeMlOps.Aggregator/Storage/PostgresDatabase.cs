using Npgsql;

namespace EdgeMlOps.Aggregator.Storage;

/// <summary>
/// A store's tables in the shared PostgreSQL database: each session takes a connection from the pool, so stores
/// (and aggregator replicas) work concurrently and a dropped connection is replaced on the next session.
/// </summary>
public sealed class PostgresDatabase(NpgsqlDataSource source) : SqlDatabase
{
    public override StoreEngine Engine => StoreEngine.PostgreSql;

    public override SqlSession Open()
    {
        var connection = source.OpenConnection();
        return new SqlSession(Engine, connection, connection.Dispose);
    }

    /// <summary>
    /// Npgsql's transient errors (network, timeouts, a server that cannot take connections yet), and a backend the
    /// server shut down under us (<c>57P01</c> admin shutdown, <c>57P02</c> crash shutdown: a restart or failover).
    /// </summary>
    protected override bool IsTransient(Exception failure) =>
        failure is System.Data.Common.DbException { IsTransient: true } or PostgresException { SqlState: "57P01" or "57P02" };

    /// <summary>The data source is shared by every store and disposed by <see cref="StoreDatabases"/>.</summary>
    public override void Dispose()
    {
    }
}
