using System.Globalization;

namespace EdgeMlOps.Aggregator.Storage;

/// <summary>
/// Applies a store's migrations it has not had yet and records each in <c>schema_migrations(store, version)</c>.
/// On PostgreSQL a transaction-scoped advisory lock serialises replicas starting together, so each migration runs
/// exactly once; a database already newer than this binary knows is refused rather than written with an old schema.
/// The schema the connection's search path names first (<c>SearchPath=…</c>, a model line's own) is created when missing.
/// </summary>
public static class SchemaMigrations
{
    /// <summary>The advisory lock key all EdgeMlOps migrations take ("EdgeMlOp" as a 64-bit integer).</summary>
    public const long AdvisoryLockKey = 0x45_64_67_65_4D_6C_4F_70;

    /// <summary>Applies every migration <paramref name="store"/> lacks, each in its own transaction.</summary>
    public static void Apply(SqlSession session, string store, IReadOnlyList<Migration> migrations, DateTimeOffset now)
    {
        while (ApplyNext(session, store, migrations, now))
        {
        }
    }

    /// <summary>
    /// Applies the first migration <paramref name="store"/> lacks and records it, in one transaction (safe to repeat:
    /// a retry after a lost acknowledgement finds it recorded). False when there was none left.
    /// </summary>
    public static bool ApplyNext(SqlSession session, string store, IReadOnlyList<Migration> migrations, DateTimeOffset now)
    {
        for (var i = 0; i < migrations.Count; i++)
        {
            if (migrations[i].Version != i + 1) throw new ArgumentException($"{store}: migration {i + 1} is numbered {migrations[i].Version}", nameof(migrations));
        }

        var applied = false;
        session.InTransaction(() =>
        {
            if (session.Engine == StoreEngine.PostgreSql)
            {
                session.Execute("SELECT pg_advisory_xact_lock(@k)", ("@k", AdvisoryLockKey));
                CreateSearchPathSchema(session);
            }

            session.Execute(SqlDialect.Schema(
                "CREATE TABLE IF NOT EXISTS schema_migrations(store TEXT NOT NULL, version INTEGER NOT NULL, description TEXT NOT NULL, applied_ms INTEGER NOT NULL, PRIMARY KEY(store, version))",
                session.Engine));
            var current = Current(session, store);
            if (current > migrations.Count)
            {
                throw new StoreException(
                    $"the {store} tables are at schema version {current}, newer than this aggregator's {migrations.Count}: run the newer aggregator, or restore a backup");
            }

            if (current == migrations.Count) return;
            var migration = migrations[(int)current];
            migration.Apply(session);
            session.Execute("INSERT INTO schema_migrations(store, version, description, applied_ms) VALUES (@s, @v, @d, @t)",
                ("@s", store), ("@v", migration.Version), ("@d", migration.Description), ("@t", now.ToUnixTimeMilliseconds()));
            applied = true;
        });
        return applied;
    }

    /// <summary>
    /// Creates the first schema of the session's search path unless it exists (or is <c>$user</c> or <c>public</c>):
    /// asked for only when missing, so a role without <c>CREATE</c> on the database works in a schema made for it.
    /// </summary>
    private static void CreateSearchPathSchema(SqlSession session)
    {
        var path = Convert.ToString(session.Scalar("SELECT current_setting('search_path')"), CultureInfo.InvariantCulture) ?? string.Empty;
        var first = path.Split(',')[0].Trim();
        var name = first.Length > 1 && first[0] == '"' && first[^1] == '"' ? first[1..^1].Replace("\"\"", "\"", StringComparison.Ordinal) : first;
        if (name.Length == 0 || name is "$user" or "public") return;
        if (session.Scalar("SELECT 1 FROM pg_namespace WHERE nspname = @n", ("@n", name)) is not null) return;
        session.Execute($"CREATE SCHEMA IF NOT EXISTS \"{name.Replace("\"", "\"\"", StringComparison.Ordinal)}\"");
    }

    /// <summary>The newest migration applied to <paramref name="store"/> (0: none).</summary>
    public static long Current(SqlSession session, string store) =>
        Convert.ToInt64(session.Scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE store = @s", ("@s", store)) ?? 0L, CultureInfo.InvariantCulture);
}
