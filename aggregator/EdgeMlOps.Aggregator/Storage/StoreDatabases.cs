using EdgeMlOps.Runtime.Storage;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace EdgeMlOps.Aggregator.Storage;

/// <summary>
/// Opens each store's database for the configured engine: with SQLite a file per store under the data directory
/// (so a hot store's writes never wait on another's sync), with PostgreSQL one pooled data source all stores share.
/// A damaged SQLite file (not a database, or pages that fail <c>quick_check</c>) is handled by what it holds: a record
/// synced on every commit (versions, certificates, the audit chain) stops the start with the file and the way back;
/// a cache that is not (message ids, security events) is kept aside and started empty, with a notice.
/// </summary>
public sealed class StoreDatabases : IDisposable
{
    private readonly StoreOptions _options;
    private readonly string _directory;
    private readonly NpgsqlDataSource? _postgres;
    private readonly NpgsqlDataSource? _postgresRelaxed;
    private readonly TimeProvider _time;
    private readonly List<string> _notices = [];

    public StoreDatabases(StoreOptions options, string dataDirectory, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
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
        _postgres is null ? OpenFile(file, durable) : new PostgresDatabase(durable ? _postgres : _postgresRelaxed!) { StartupWait = TimeSpan.FromSeconds(_options.StartupWaitSeconds) };

    /// <summary>What was done about damaged files while opening (for the start-up log).</summary>
    public IReadOnlyList<string> Notices => _notices;

    private SqliteDatabase OpenFile(string file, bool durable)
    {
        var path = Path.Combine(_directory, file);
        try
        {
            return new SqliteDatabase(path, durable);
        }
        catch (SqliteException ex) when (DamagedSqliteFile.IsDamage(ex))
        {
            if (durable)
            {
                // A record is never replaced behind the operator's back: a fresh registry or CA would be a different fleet.
                throw new StoreException(
                    $"Aggregator:Store: {path} is damaged ({DamagedSqliteFile.Reason(ex)}); nothing was changed. Restore the data directory from a backup " +
                    "(edgemlops-aggregator --backup DIR makes one), or move the file aside to start that store empty (docs/OPERATIONS.md, \"Failure modes\").", ex);
            }

            var aside = DamagedSqliteFile.SetAside(path, _time.GetUtcNow());
            _notices.Add($"{file} was damaged ({DamagedSqliteFile.Reason(ex)}); kept aside as {Path.GetFileName(aside)} and started empty");
            return new SqliteDatabase(path, durable);
        }
    }

    public void Dispose()
    {
        _postgres?.Dispose();
        _postgresRelaxed?.Dispose();
    }
}
