using EdgeMlOps.Shared.Configuration;

namespace EdgeMlOps.Aggregator.Storage;

/// <summary>
/// Where the aggregator keeps its tables (<c>Aggregator:Store:*</c>). Keys, the fleet CA and artifacts stay in
/// <see cref="AggregatorOptions.DataDirectory"/> with either engine.
/// </summary>
public sealed class StoreOptions
{
    /// <summary><c>sqlite</c> (default) or <c>postgresql</c>.</summary>
    public StoreEngine Engine { get; init; } = StoreEngine.Sqlite;

    /// <summary>
    /// An Npgsql connection string for <see cref="StoreEngine.PostgreSql"/> (e.g. <c>Host=db;Username=edgemlops;Database=edgemlops</c>);
    /// a password is best left out of it and given in <c>PGPASSWORD</c> or a <c>~/.pgpass</c> file, which Npgsql reads.
    /// </summary>
    public string? ConnectionString { get; init; }

    /// <summary>
    /// Active/standby: above 0, an aggregator runs only while it holds the leader lease in this store (renewed every
    /// third of this term); others sharing the store and the data directory wait as standbys and take over within
    /// a term of the leader's death. 0 (default): no lease.
    /// </summary>
    public double LeaderLeaseSeconds { get; init; }

    /// <summary>
    /// How long the start waits for a PostgreSQL server it cannot reach yet — starting, failing over — retrying each
    /// schema step with growing pauses before it stops naming the store and the reason (default 30; 0 to 600).
    /// </summary>
    public double StartupWaitSeconds { get; init; } = DefaultStartupWaitSeconds;

    /// <summary>The default <see cref="StartupWaitSeconds"/>.</summary>
    public const double DefaultStartupWaitSeconds = 30;

    /// <summary>
    /// The store of model line <paramref name="line"/> of this fleet: with SQLite files of its own (in the line's data
    /// directory); with PostgreSQL the same server and database, in a schema of its own (<see cref="LineSchema"/>, created
    /// at the first start), and no lease of its own (a line runs in the process that holds the fleet's).
    /// </summary>
    public StoreOptions ForLine(string line)
    {
        if (Engine == StoreEngine.Sqlite) return new StoreOptions();
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString);
        builder.SearchPath = LineSchema(builder.SearchPath, line);
        return new StoreOptions { Engine = Engine, ConnectionString = builder.ConnectionString, StartupWaitSeconds = StartupWaitSeconds };
    }

    /// <summary>
    /// The PostgreSQL schema of model line <paramref name="line"/>: <c>{fleet schema}_line_{line}</c> (the fleet's schema is the
    /// first of its <c>SearchPath</c>, or <c>edgemlops</c>), in lower-case letters, digits and underscores; a name that had
    /// to be changed to fit, or that would be longer than PostgreSQL's 63 bytes, ends in a hash of the line's name instead.
    /// </summary>
    public static string LineSchema(string? fleetSearchPath, string line)
    {
        var fleet = fleetSearchPath?.Split(',')[0].Trim().Trim('"') is { Length: > 0 } s && s is not "$user" and not "public" ? s : "edgemlops";
        var wanted = $"{fleet}_line_{line}";
        var safe = new string([.. wanted.ToLowerInvariant().Select(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' ? c : '_')]);
        if (safe == wanted && safe.Length <= 63) return safe;
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(line)))[..8];
        return $"{safe[..Math.Min(safe.Length, 54)]}_{hash}";
    }

    /// <summary>Where the tables are, for the log: the SQLite directory, or the PostgreSQL server and database (never the password).</summary>
    public string Describe(string dataDirectory)
    {
        if (Engine == StoreEngine.Sqlite) return $"SQLite files in {dataDirectory}";
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString);
        return $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database}" + (builder.SearchPath is { Length: > 0 } schema ? $" (schema {schema})" : string.Empty);
    }

    public IEnumerable<(string Key, string Problem)> Problems()
    {
        if (Engine == StoreEngine.PostgreSql && string.IsNullOrWhiteSpace(ConnectionString))
        {
            yield return ("Store:ConnectionString", "is required when Store:Engine is 'postgresql'");
        }

        if (Engine == StoreEngine.PostgreSql && !string.IsNullOrWhiteSpace(ConnectionString) && ParseProblem(ConnectionString) is { } parse)
        {
            yield return ("Store:ConnectionString", $"is not a connection string ({parse})");
        }

        if (LeaderLeaseSeconds is not 0 and (< 1 or > 3600)) yield return ("Store:LeaderLeaseSeconds", "must be 0 (no lease) or between 1 and 3600 seconds");

        if (Engine == StoreEngine.Sqlite && ConnectionString is not null)
        {
            yield return ("Store:ConnectionString", "is only for Store:Engine 'postgresql' (SQLite files live in DataDirectory)");
        }
    }

    private static string? ParseProblem(string connectionString)
    {
        try
        {
            _ = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
            return null;
        }
        catch (ArgumentException ex)
        {
            return ex.Message;
        }
    }

    public static StoreOptions Read(ConfigReader r)
    {
        var engineText = r.String("Store:Engine", "sqlite");
        r.Require(engineText is "sqlite" or "postgresql", "Store:Engine", $"'{engineText}' is neither 'sqlite' nor 'postgresql'");
        var options = new StoreOptions
        {
            Engine = engineText == "postgresql" ? StoreEngine.PostgreSql : StoreEngine.Sqlite,
            ConnectionString = r.OptionalString("Store:ConnectionString"),
            LeaderLeaseSeconds = r.Double("Store:LeaderLeaseSeconds", 0, 0, 3600),
            StartupWaitSeconds = r.Double("Store:StartupWaitSeconds", DefaultStartupWaitSeconds, 0, 600),
        };
        foreach (var (key, problem) in options.Problems()) r.Require(false, key, problem);
        return options;
    }
}
