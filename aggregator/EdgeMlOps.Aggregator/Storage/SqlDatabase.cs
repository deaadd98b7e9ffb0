namespace EdgeMlOps.Aggregator.Storage;

/// <summary>
/// The database one store keeps its tables in. Stores write their SQL once, in the subset both engines read
/// (<c>INSERT … ON CONFLICT</c>, <c>RETURNING</c>, <c>@name</c> parameters), and their schema as versioned
/// <see cref="Migration"/>s in SQLite's column types, which <see cref="SqlDialect"/> maps for PostgreSQL.
/// </summary>
public abstract class SqlDatabase : IDisposable
{
    public abstract StoreEngine Engine { get; }

    /// <summary>A session on the database; dispose it promptly (a SQLite store has one connection).</summary>
    public abstract SqlSession Open();

    /// <summary>Brings <paramref name="store"/>'s tables to its newest migration (see <see cref="SchemaMigrations"/>).</summary>
    public void Migrate(string store, IReadOnlyList<Migration> migrations)
    {
        using var session = Open();
        SchemaMigrations.Apply(session, store, migrations, DateTimeOffset.UtcNow);
    }

    public abstract void Dispose();
}
