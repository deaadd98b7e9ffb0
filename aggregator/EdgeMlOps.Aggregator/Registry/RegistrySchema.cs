using EdgeMlOps.Aggregator.Storage;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>The registry's tables, as the numbered migrations that build them on either engine.</summary>
public static class RegistrySchema
{
    /// <summary>Oldest first (see <see cref="Migration"/>: released steps are never edited).</summary>
    public static readonly IReadOnlyList<Migration> Migrations =
    [
        Migration.Sql(1, "models, versions, rounds, states, rollouts, profiles, strategy state, explanations, pipeline", """
            CREATE TABLE IF NOT EXISTS models(
                name TEXT PRIMARY KEY,
                spec TEXT NOT NULL,
                created_ms INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS versions(
                model TEXT NOT NULL REFERENCES models(name),
                version INTEGER NOT NULL,
                parent INTEGER NOT NULL,
                round INTEGER NOT NULL,
                contributors INTEGER NOT NULL,
                samples INTEGER NOT NULL,
                inference_sha TEXT NOT NULL,
                inference_size INTEGER NOT NULL,
                train_sha TEXT NOT NULL,
                train_size INTEGER NOT NULL,
                eval_accuracy REAL,
                eval_loss REAL,
                train_loss REAL,
                created_ms INTEGER NOT NULL,
                PRIMARY KEY(model, version));
            CREATE TABLE IF NOT EXISTS rounds(
                model TEXT NOT NULL,
                round INTEGER NOT NULL,
                round_id TEXT NOT NULL,
                base_version INTEGER NOT NULL,
                status TEXT NOT NULL,
                selected INTEGER NOT NULL,
                contributors INTEGER NOT NULL,
                samples INTEGER NOT NULL,
                rejected INTEGER NOT NULL,
                new_version INTEGER,
                started_ms INTEGER NOT NULL,
                ended_ms INTEGER NOT NULL,
                PRIMARY KEY(model, round));
            CREATE TABLE IF NOT EXISTS version_states(
                model TEXT NOT NULL,
                version INTEGER NOT NULL,
                state TEXT NOT NULL,
                created_by TEXT NOT NULL,
                reason TEXT,
                evaluation TEXT,
                PRIMARY KEY(model, version));
            CREATE TABLE IF NOT EXISTS rollouts(
                id TEXT PRIMARY KEY,
                model TEXT NOT NULL,
                version INTEGER NOT NULL,
                spec TEXT NOT NULL,
                state TEXT NOT NULL,
                stage INTEGER NOT NULL,
                revision INTEGER NOT NULL,
                created_ms INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS reference_profiles(
                model TEXT NOT NULL,
                version INTEGER NOT NULL,
                profile BLOB NOT NULL,
                PRIMARY KEY(model, version));
            CREATE TABLE IF NOT EXISTS strategy_state(
                model TEXT PRIMARY KEY,
                version INTEGER NOT NULL,
                state BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS explanations(
                model TEXT NOT NULL,
                version INTEGER NOT NULL,
                kind TEXT NOT NULL,
                explanation TEXT NOT NULL,
                PRIMARY KEY(model, version, kind));
            CREATE TABLE IF NOT EXISTS pipeline_runs(
                id TEXT PRIMARY KEY,
                model TEXT NOT NULL,
                started_ms INTEGER NOT NULL,
                run TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS pipeline_control(
                model TEXT PRIMARY KEY,
                paused INTEGER NOT NULL,
                paused_by TEXT,
                policy TEXT);
            CREATE TABLE IF NOT EXISTS round_attempts(
                model TEXT NOT NULL,
                round INTEGER NOT NULL,
                attempts INTEGER NOT NULL,
                PRIMARY KEY(model, round));
            """),
        // Registries written before round notes existed (and before migrations were recorded) may have the column already.
        new(2, "rounds.notes (ε spent, clip norm, staleness)", session =>
        {
            if (!session.ColumnExists("rounds", "notes")) session.Execute("ALTER TABLE rounds ADD COLUMN notes TEXT");
        }),
        Migration.Sql(3, "per-cohort reference profiles (Monitoring:CohortReferences)", """
            CREATE TABLE IF NOT EXISTS cohort_reference_profiles(
                model TEXT NOT NULL,
                version INTEGER NOT NULL,
                cohort TEXT NOT NULL,
                profile BLOB NOT NULL,
                PRIMARY KEY(model, version, cohort));
            """),
        Migration.Sql(4, "prediction references (each version's first production outputs: prediction drift)", """
            CREATE TABLE IF NOT EXISTS prediction_reference_profiles(
                model TEXT NOT NULL,
                version INTEGER NOT NULL,
                profile BLOB NOT NULL,
                PRIMARY KEY(model, version));
            """),
        new(5, "versions.task_scores (a multi-task model's held-out score per task)", session =>
        {
            if (!session.ColumnExists("versions", "task_scores")) session.Execute("ALTER TABLE versions ADD COLUMN task_scores TEXT");
        }),
        Migration.Sql(6, "versions.pruned_ms (when retention deleted a version's artifacts: Registry:KeepVersions)", """
            ALTER TABLE versions ADD COLUMN pruned_ms INTEGER;
            """),
        Migration.Sql(7, "indexes for reading a long history a row at a time: a version's round, the newest version in a state", """
            CREATE INDEX IF NOT EXISTS rounds_new_version ON rounds(model, new_version);
            CREATE INDEX IF NOT EXISTS version_states_state ON version_states(model, state, version);
            """),
    ];
}
