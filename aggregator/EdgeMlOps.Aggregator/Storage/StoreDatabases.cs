using Npgsql;

namespace EdgeMlOps.Aggregator.Storage;

/// <summary>
/// Opens each store's database for the configured engine: with SQLite a file per store under the data directory
/// (so a hot store's writes never wait on another's sync), with PostgreSQL one pooled data source all stores share.
/// </summary>
public sealed class StoreDatabases : IDisposable
{
    private readonly StoreOptions _options;
    private readonly string _directory;
    private readonly NpgsqlDataSource? _postgres;
    private readonly NpgsqlDataSource? _postgresRelaxed;

    public StoreDatabases(StoreOptions options, string dataDirectory)
    {
        foreach (var (key, problem) in options.Problems()) throw new ArgumentException($"{key} {problem}", nameof(options));
        _options = options;
        _directory = dataDirectory;
        if (options.Engine == StoreEngine.PostgreSql)
        {
            var builder = new NpgsqlConnectionStringBuilder(options.ConnectionString);
            if (string.IsNullOrEmpty(builder.ApplicationName)) builder.ApplicationName = "edgemlops-aggregator";
            _postgres = NpgsqlDataSource.Create(builder);

            // The stores SQLite keeps without a sync per commit (message ids, security events) commit asynchronously
            // here: durable once the server writes its WAL a moment later, so a crashed aggregator loses nothing and a
            // crashed database server at most the last few hundred milliseconds of ids — what a power cut costs SQLite.
            builder.Options = (builder.Options is { Length: > 0 } given ? given + " " : string.Empty) + "-c synchronous_commit=off";
            _postgresRelaxed = NpgsqlDataSource.Create(builder);
        }
    }

    public StoreEngine Engine => _options.Engine;

    /// <summary>
    /// The database of the store that SQLite keeps in <paramref name="file"/>; <paramref name="durable"/>: every commit
    /// synced to disk, or (PostgreSQL: committed asynchronously) only safe from a crash of this process. The store owns and disposes it; dispose this after the stores.
    /// </summary>
    public SqlDatabase Open(string file, bool durable) =>
        _postgres is null ? new SqliteDatabase(Path.Combine(_directory, file), durable) : new PostgresDatabase(durable ? _postgres : _postgresRelaxed!);

    public void Dispose()
    {
        _postgres?.Dispose();
        _postgresRelaxed?.Dispose();
    }
}
