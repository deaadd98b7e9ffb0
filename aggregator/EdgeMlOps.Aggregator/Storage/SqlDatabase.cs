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
    /// How long each migration step at start-up is retried (<c>Aggregator:Store:StartupWaitSeconds</c>, half a minute
    /// by default): a database that is starting or failing over while the aggregator starts should delay the start, not stop it.
    /// </summary>
    public TimeSpan StartupWait { get; init; } = TimeSpan.FromSeconds(StoreOptions.DefaultStartupWaitSeconds);

    /// <summary>A session on the database; dispose it promptly (a SQLite store has one connection).</summary>
    public abstract SqlSession Open();

    /// <summary>
    /// Runs <paramref name="work"/> in a session; when the engine reports a transient failure (a dropped connection,
    /// a server restarting or failing over) it runs it again on a fresh session, up to <see cref="MaxAttempts"/> times
    /// with growing pauses. The work must be safe to repeat: a failure can arrive after the server committed.
    /// </summary>
    public T Run<T>(Func<SqlSession, T> work) => RunAttempts(work, MaxAttempts);

    private T RunAttempts<T>(Func<SqlSession, T> work, int attempts, TimeSpan? within = null)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                using var session = Open();
                return work(session);
            }
            catch (Exception ex) when ((within is { } wait ? started.Elapsed < wait : attempt < attempts) && IsTransient(ex))
            {
                var pause = TimeSpan.FromMilliseconds(Math.Min(2_000, 50 * attempt * attempt));
                Thread.Sleep(within is { } limit ? TimeSpan.FromTicks(Math.Max(0, Math.Min(pause.Ticks, (limit - started.Elapsed).Ticks))) : pause);
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
    /// transaction per migration, each retried on its own (for up to <see cref="StartupWait"/>), so a database that
    /// keeps dropping connections still sees the schema advance a step at a time instead of losing all of it each time.
    /// </summary>
    public void Migrate(string store, IReadOnlyList<Migration> migrations)
    {
        while (RunAttempts(session => SchemaMigrations.ApplyNext(session, store, migrations, DateTimeOffset.UtcNow), int.MaxValue, StartupWait))
        {
        }
    }

    public abstract void Dispose();
}
