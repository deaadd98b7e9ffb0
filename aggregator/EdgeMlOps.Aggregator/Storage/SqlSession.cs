using System.Data.Common;
using System.Globalization;

namespace EdgeMlOps.Aggregator.Storage;

/// <summary>
/// One use of a store's database: commands with named parameters (<c>@name</c>, which both engines read), optional
/// transaction, and whatever the engine holds for the duration (SQLite: the store's one connection and its lock;
/// PostgreSQL: a pooled connection) released on dispose. Synchronous, so it never leaves the thread that opened it.
/// </summary>
public sealed class SqlSession : IDisposable
{
    private readonly DbConnection _connection;
    private readonly Action _release;
    private DbTransaction? _transaction;

    internal SqlSession(StoreEngine engine, DbConnection connection, Action release)
    {
        Engine = engine;
        _connection = connection;
        _release = release;
    }

    public StoreEngine Engine { get; }

    /// <summary>Runs a statement and returns the rows it changed.</summary>
    public int Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        using var cmd = Command(sql, parameters);
        return cmd.ExecuteNonQuery();
    }

    /// <summary>The first column of the first row, or null (no row, or SQL NULL).</summary>
    public object? Scalar(string sql, params (string Name, object? Value)[] parameters)
    {
        using var cmd = Command(sql, parameters);
        var value = cmd.ExecuteScalar();
        return value is DBNull ? null : value;
    }

    /// <summary>An integer result (counts, ids, sums) whichever integer type the engine returns.</summary>
    public long Long(string sql, params (string Name, object? Value)[] parameters) =>
        Convert.ToInt64(Scalar(sql, parameters) ?? 0L, CultureInfo.InvariantCulture);

    /// <summary>Every row, mapped.</summary>
    public List<T> Query<T>(string sql, Func<DbDataReader, T> row, params (string Name, object? Value)[] parameters)
    {
        using var cmd = Command(sql, parameters);
        using var reader = cmd.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read()) rows.Add(row(reader));
        return rows;
    }

    /// <summary>Runs <paramref name="work"/> in one transaction: all of it is committed, or none (an exception rolls back).</summary>
    public T InTransaction<T>(Func<T> work)
    {
        if (_transaction is not null) return work();
        _transaction = _connection.BeginTransaction();
        try
        {
            var result = work();
            _transaction.Commit();
            return result;
        }
        finally
        {
            _transaction.Dispose();
            _transaction = null;
        }
    }

    public void InTransaction(Action work) => InTransaction(() =>
    {
        work();
        return 0;
    });

    /// <summary>Whether <paramref name="table"/> has a column named <paramref name="column"/> (for migrations that add one).</summary>
    public bool ColumnExists(string table, string column) => Engine == StoreEngine.Sqlite
        ? Long("SELECT COUNT(*) FROM pragma_table_info(@t) WHERE name = @c", ("@t", table), ("@c", column)) > 0
        : Long("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = @t AND column_name = @c", ("@t", table), ("@c", column)) > 0;

    public void Dispose() => _release();

    private DbCommand Command(string sql, (string Name, object? Value)[] parameters)
    {
        var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = _transaction;
        foreach (var (name, value) in parameters)
        {
            var parameter = cmd.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(parameter);
        }

        return cmd;
    }
}
