using EdgeMlOps.Aggregator.Storage;
using Npgsql;

namespace EdgeMlOps.Bench;

/// <summary>
/// A store on one engine for one bench pass: a fresh temporary directory and, on PostgreSQL, a schema of its own on
/// the given server; both removed on dispose.
/// </summary>
internal sealed class ScratchStore : IDisposable
{
    private readonly string _server;
    private readonly string _schema = "bench_" + Guid.NewGuid().ToString("N")[..12];

    public ScratchStore(StoreEngine engine, string server)
    {
        _server = server;
        Engine = engine;
        Directory = Path.Combine(Path.GetTempPath(), "edgemlops-bench-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        if (engine == StoreEngine.PostgreSql) Admin($"CREATE SCHEMA {_schema}");
        Options = engine == StoreEngine.Sqlite
            ? new StoreOptions()
            : new StoreOptions { Engine = StoreEngine.PostgreSql, ConnectionString = new NpgsqlConnectionStringBuilder(server) { SearchPath = _schema }.ConnectionString };
    }

    /// <summary>Each engine twice, in alternating order, so neither profits from going second (or pays the warm-up alone).</summary>
    public static IReadOnlyList<StoreEngine> AlternatingEngines => [StoreEngine.Sqlite, StoreEngine.PostgreSql, StoreEngine.PostgreSql, StoreEngine.Sqlite];

    public StoreEngine Engine { get; }

    public string Name => Engine == StoreEngine.Sqlite ? "sqlite" : "postgresql";

    public string Directory { get; }

    public StoreOptions Options { get; }

    /// <summary>The server given on the command line, else <c>EDGEMLOPS_TEST_POSTGRES</c>, else the one <c>.ci/run</c> starts.</summary>
    public static string Server(string? given) => given ?? Environment.GetEnvironmentVariable("EDGEMLOPS_TEST_POSTGRES")
        ?? "Host=127.0.0.1;Username=edgemlops;Password=edgemlops;Database=edgemlops_test";

    public void Dispose()
    {
        if (Engine == StoreEngine.PostgreSql)
        {
            NpgsqlConnection.ClearAllPools();
            Admin($"DROP SCHEMA {_schema} CASCADE");
        }

        System.IO.Directory.Delete(Directory, recursive: true);
    }

    private void Admin(string sql)
    {
        using var connection = new NpgsqlConnection(_server);
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
