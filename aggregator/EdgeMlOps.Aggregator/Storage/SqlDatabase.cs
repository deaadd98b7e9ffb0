namespace EdgeMlOps.Aggregator.Storage;

/// <summary>
/// The database one store keeps its tables in. Stores write their SQL once, in the subset both engines read
/// (<c>INSERT … ON CONFLICT</c>, <c>RETURNING</c>, <c>@name</c> parameters), and their schema as versioned
/// <see cref="Migration"/>s in SQLite's column types, which <see cref="SqlDialect"/> maps for PostgreSQL.
/// </summary>
public abstract class SqlDatabase : IDisposable
{
    public abstract StoreEngine Engine { get; }

    /// <summary>Attempts of <see cref="Run{T}"/> before a transient failure is given up on (about two seconds in all).</summary>
    public const int MaxAttempts = 5;

    /// <summary>
    /// Attempts of each migration step at start-up (about half a minute in all): a database that is failing over while
    /// the aggregator starts should delay the start, not stop it.
    /// </summary>
    public const int StartupAttempts = 20;

    /// <summary>A session on the database; dispose it promptly (a SQLite store has one connection).</summary>
    public abstract SqlSession Open();

    /// <summary>
    /// Runs <paramref name="work"/> in a session; when the engine reports a transient failure (a dropped connection,
    /// a server restarting or failing over) it runs it again on a fresh session, up to <see cref="MaxAttempts"/> times
    /// with growing pauses. The work must be safe to repeat: a failure can arrive after the server committed.
    /// </summary>
    public T Run<T>(Func<SqlSession, T> work) => RunAttempts(work, MaxAttempts);

    private T RunAttempts<T>(Func<SqlSession, T> work, int attempts)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                using var session = Open();
                return work(session);
            }
            catch (Exception ex) when (attempt < attempts && IsTransient(ex))
            {
                Thread.Sleep(TimeSpan.FromMilliseconds(Math.Min(2_000, 50 * attempt * attempt)));
            }
        }
    }

    /// <inheritdoc cref="Run{T}"/>
    public void Run(Action<SqlSession> work) => Run(session =>
    {
        work(session);
        return 0;
    });

    /// <summary>Whether <paramref name="failure"/> may pass if the same work is tried again on a new connection.</summary>
    protected virtual bool IsTransient(Exception failure) => false;

    /// <summary>
    /// Brings <paramref name="store"/>'s tables to its newest migration (see <see cref="SchemaMigrations"/>): one
    /// transaction per migration, each retried on its own (up to <see cref="StartupAttempts"/>), so a database that
    /// keeps dropping connections still sees the schema advance a step at a time instead of losing all of it each time.
    /// </summary>
    public void Migrate(string store, IReadOnlyList<Migration> migrations)
    {
        while (RunAttempts(session => SchemaMigrations.ApplyNext(session, store, migrations, DateTimeOffset.UtcNow), StartupAttempts))
        {
        }
    }

    public abstract void Dispose();
}
