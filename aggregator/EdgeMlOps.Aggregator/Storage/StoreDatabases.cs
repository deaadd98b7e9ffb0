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
        }
    }

    public StoreEngine Engine => _options.Engine;

    /// <summary>
    /// The database of the store that SQLite keeps in <paramref name="file"/>; <paramref name="durable"/>: every commit
    /// synced to disk (PostgreSQL commits are always durable). The store owns and disposes it; dispose this after the stores.
    /// </summary>
    public SqlDatabase Open(string file, bool durable) =>
        _postgres is null ? new SqliteDatabase(Path.Combine(_directory, file), durable) : new PostgresDatabase(_postgres);

    public void Dispose() => _postgres?.Dispose();
}
