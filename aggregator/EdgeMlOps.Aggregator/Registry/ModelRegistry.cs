using EdgeMlOps.Aggregator.Storage;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>One registered model version with its lineage and metrics.</summary>
public sealed record ModelVersionRecord(
    string Model,
    ulong Version,
    ulong Parent,
    long Round,
    int Contributors,
    long Samples,
    string InferenceSha256,
    long InferenceSize,
    string TrainStepSha256,
    long TrainStepSize,
    double? EvalAccuracy,
    double? EvalLoss,
    double? TrainLoss,
    DateTimeOffset CreatedAt)
{
    /// <summary>Governance state: candidate, validated, approved, deployed, archived or rejected.</summary>
    public string State { get; init; } = VersionStates.Candidate;

    /// <summary>The identity that created the version (who started the training, or uploaded it).</summary>
    public string CreatedBy { get; init; } = "system";

    /// <summary>Why the version is in its state (validation outcome, review request, rejection reason).</summary>
    public string? StateReason { get; init; }

    /// <summary>A multi-task model's held-out score of each task (<see cref="EvalAccuracy"/> is the first's); null for another model or without a held-out set.</summary>
    public IReadOnlyList<Runtime.TaskScore>? TaskScores { get; init; }

    /// <summary>When the registry's retention deleted the version's artifacts (its row, lineage and metrics stay); null while they are kept.</summary>
    public DateTimeOffset? ArtifactsPrunedAt { get; init; }
}

/// <summary>Registry states (MLflow/SageMaker-like), with the transitions the governance allows.</summary>
public static class VersionStates
{
    public const string Candidate = "candidate";
    public const string Validated = "validated";
    public const string Approved = "approved";
    public const string Deployed = "deployed";
    public const string Archived = "archived";
    public const string Rejected = "rejected";

    private static readonly Dictionary<string, string[]> Next = new(StringComparer.Ordinal)
    {
        [Candidate] = [Validated, Approved, Rejected],
        [Validated] = [Approved, Rejected],
        [Approved] = [Deployed, Rejected, Archived],
        [Deployed] = [Archived],
        [Archived] = [Deployed],
        [Rejected] = [],
    };

    public static bool IsKnown(string state) => Next.ContainsKey(state);

    public static bool CanMove(string from, string to) => Next.TryGetValue(from, out var next) && next.Contains(to);
}

/// <summary>The outcome of one round, as stored.</summary>
public sealed record RoundRecord(
    string Model,
    long Round,
    string RoundId,
    ulong BaseVersion,
    [property: System.Text.Json.Serialization.JsonConverter(typeof(Rounds.RoundStatusJsonConverter))] Rounds.RoundStatus Status,
    int Selected,
    int Contributors,
    long Samples,
    long Rejected,
    ulong? NewVersion,
    DateTimeOffset StartedAt,
    DateTimeOffset EndedAt,
    IReadOnlyDictionary<string, double>? Notes = null);

/// <summary>
/// The model registry: models, versions (parent, round, contributors, samples, metrics, artifact hashes), their
/// governance states, rounds, rollouts, reference profiles, strategy state, explanations and pipeline runs — in
/// SQLite (<c>registry.db</c>) or PostgreSQL. The aggregator resumes from it after a restart.
/// </summary>
public sealed partial class ModelRegistry : IDisposable
{
    private readonly SqlDatabase _db;

    /// <summary>A registry in its own SQLite file (synced on every commit).</summary>
    public ModelRegistry(string path)
        : this(new SqliteDatabase(path, durable: true))
    {
    }

    /// <summary>A registry in <paramref name="database"/>, which it owns from now on; brings the schema up to date.</summary>
    public ModelRegistry(SqlDatabase database)
    {
        _db = database;
        _db.Migrate("registry", RegistrySchema.Migrations);
    }

    public string? GetModelSpec(string model)
    {
        return _db.Run(s => s.Scalar("SELECT spec FROM models WHERE name = @n", ("@n", model)) as string);
    }

    public void AddModel(string model, string spec, DateTimeOffset at)
    {
        _db.Run(s =>
        {
            s.Execute("INSERT INTO models(name, spec, created_ms) VALUES (@n, @s, @t) ON CONFLICT(name) DO NOTHING", ("@n", model), ("@s", spec), ("@t", at.ToUnixTimeMilliseconds()));
        });
    }

    public void AddVersion(ModelVersionRecord v)
    {
        var fence = Fence;
        _db.Run(s =>
        {
            s.InTransaction(() =>
            {
                fence?.AssertHeld(s, $"v{v.Version} of {v.Model}");

                s.Execute(
                    """
                    INSERT INTO versions(model, version, parent, round, contributors, samples, inference_sha, inference_size,
                                         train_sha, train_size, eval_accuracy, eval_loss, train_loss, created_ms, task_scores)
                    VALUES (@m, @v, @p, @r, @c, @s, @is, @iz, @ts, @tz, @ea, @el, @tl, @t, @tk)
                    """,
                    ("@m", v.Model), ("@v", (long)v.Version), ("@p", (long)v.Parent), ("@r", v.Round), ("@c", v.Contributors), ("@s", v.Samples),
                    ("@is", v.InferenceSha256), ("@iz", v.InferenceSize), ("@ts", v.TrainStepSha256), ("@tz", v.TrainStepSize),
                    ("@ea", v.EvalAccuracy), ("@el", v.EvalLoss), ("@tl", v.TrainLoss), ("@t", v.CreatedAt.ToUnixTimeMilliseconds()), ("@tk", TaskScoresColumn.Write(v.TaskScores)));
                s.Execute(
                    """
                    INSERT INTO version_states(model, version, state, created_by, reason) VALUES (@m, @v, @s, @c, @r)
                    ON CONFLICT(model, version) DO UPDATE SET state = excluded.state, created_by = excluded.created_by, reason = excluded.reason, evaluation = NULL
                    """,
                    ("@m", v.Model), ("@v", (long)v.Version), ("@s", v.State), ("@c", v.CreatedBy), ("@r", v.StateReason));
            });
        });
    }

    /// <summary>Moves a version to <paramref name="state"/> (the caller checked the transition and audits it).</summary>
    public void SetState(string model, ulong version, string state, string? reason)
    {
        _db.Run(s =>
        {
            if (s.Execute("UPDATE version_states SET state = @s, reason = @r WHERE model = @m AND version = @v", ("@m", model), ("@v", (long)version), ("@s", state), ("@r", reason)) != 1)
            {
                throw new KeyNotFoundException($"no version {model} v{version}");
            }
        });
    }

    /// <summary>Per-cohort validation results of a version (JSON), for the model card and the admin API.</summary>
    public void SetEvaluation(string model, ulong version, string json)
    {
        _db.Run(s =>
        {
            s.Execute("UPDATE version_states SET evaluation = @e WHERE model = @m AND version = @v", ("@m", model), ("@v", (long)version), ("@e", json));
        });
    }

    public string? Evaluation(string model, ulong version)
    {
        return _db.Run(s => s.Scalar("SELECT evaluation FROM version_states WHERE model = @m AND version = @v", ("@m", model), ("@v", (long)version)) as string);
    }

    /// <summary>A version's explanation of one kind (JSON: <c>held-out</c>, <c>federated</c>), versioned with the model.</summary>
    public void SetExplanation(string model, ulong version, string kind, string json)
    {
        _db.Run(s =>
        {
            s.Execute(
                "INSERT INTO explanations(model, version, kind, explanation) VALUES (@m, @v, @k, @e) ON CONFLICT(model, version, kind) DO UPDATE SET explanation = excluded.explanation",
                ("@m", model), ("@v", (long)version), ("@k", kind), ("@e", json));
        });
    }

    public string? Explanation(string model, ulong version, string kind)
    {
        return _db.Run(s => s.Scalar("SELECT explanation FROM explanations WHERE model = @m AND version = @v AND kind = @k", ("@m", model), ("@v", (long)version), ("@k", kind)) as string);
    }

    public ModelVersionRecord? Version(string model, ulong version) =>
        Versions(model, "AND v.version = @version ORDER BY v.version", ("@version", (long)version)).FirstOrDefault();

    /// <summary>Rollouts as stored: id, version, spec (JSON), state, stage, revision.</summary>
    public void SaveRollout(string id, string model, ulong version, string spec, string state, int stage, ulong revision, DateTimeOffset created)
    {
        _db.Run(s =>
        {
            s.Execute(
                """
                INSERT INTO rollouts(id, model, version, spec, state, stage, revision, created_ms) VALUES (@i, @m, @v, @sp, @st, @sg, @rv, @t)
                ON CONFLICT(id) DO UPDATE SET model = excluded.model, version = excluded.version, spec = excluded.spec, state = excluded.state,
                    stage = excluded.stage, revision = excluded.revision, created_ms = excluded.created_ms
                """,
                ("@i", id), ("@m", model), ("@v", (long)version), ("@sp", spec), ("@st", state), ("@sg", stage), ("@rv", (long)revision), ("@t", created.ToUnixTimeMilliseconds()));
        });
    }

    /// <summary>The stored rollouts (their JSON), oldest first; the other columns are there for queries.</summary>
    public IReadOnlyList<string> Rollouts(string model)
    {
        return _db.Run(s => s.Query("SELECT spec FROM rollouts WHERE model = @m ORDER BY created_ms, id", r => r.GetString(0), ("@m", model)));
    }

    /// <summary>A retraining pipeline run as stored (JSON), written at every step.</summary>
    public void SavePipelineRun(string id, string model, DateTimeOffset started, string json)
    {
        _db.Run(s =>
        {
            s.Execute(
                "INSERT INTO pipeline_runs(id, model, started_ms, run) VALUES (@i, @m, @t, @r) ON CONFLICT(id) DO UPDATE SET model = excluded.model, started_ms = excluded.started_ms, run = excluded.run",
                ("@i", id), ("@m", model), ("@t", started.ToUnixTimeMilliseconds()), ("@r", json));
        });
    }

    /// <summary>The newest <paramref name="limit"/> pipeline runs (their JSON), newest first.</summary>
    public IReadOnlyList<string> PipelineRuns(string model, int limit)
    {
        return _db.Run(s => s.Query("SELECT run FROM pipeline_runs WHERE model = @m ORDER BY started_ms DESC, id DESC LIMIT @l", r => r.GetString(0), ("@m", model), ("@l", limit)));
    }

    /// <summary>Whether the retraining pipeline is paused (and by whom); survives restarts.</summary>
    public void SetPipelinePaused(string model, bool paused, string? by)
    {
        _db.Run(s =>
        {
            s.Execute(
                "INSERT INTO pipeline_control(model, paused, paused_by) VALUES (@m, @p, @b) ON CONFLICT(model) DO UPDATE SET paused = excluded.paused, paused_by = excluded.paused_by",
                ("@m", model), ("@p", paused ? 1L : 0L), ("@b", by));
        });
    }

    public (bool Paused, string? By) PipelinePaused(string model)
    {
        return _db.Run(s =>
        {
            var rows = s.Query("SELECT paused, paused_by FROM pipeline_control WHERE model = @m", r => (r.GetInt64(0) != 0, r.IsDBNull(1) ? null : r.GetString(1)), ("@m", model));
            return rows.Count > 0 ? rows[0] : (false, null);
        });
    }

    /// <summary>The pipeline policy set through the admin API (JSON), which overrides configuration; null: configuration's.</summary>
    public void SetPipelinePolicy(string model, string? json)
    {
        _db.Run(s =>
        {
            s.Execute("INSERT INTO pipeline_control(model, paused, policy) VALUES (@m, 0, @j) ON CONFLICT(model) DO UPDATE SET policy = excluded.policy", ("@m", model), ("@j", json));
        });
    }

    public string? PipelinePolicy(string model)
    {
        return _db.Run(s => s.Scalar("SELECT policy FROM pipeline_control WHERE model = @m", ("@m", model)) as string);
    }

    public ModelVersionRecord? Latest(string model) => Versions(model, "ORDER BY v.version DESC LIMIT 1").FirstOrDefault();

    public IReadOnlyList<ModelVersionRecord> Versions(string model) => Versions(model, "ORDER BY v.version");

    public void AddRound(RoundRecord r)
    {
        _db.Run(s =>
        {
            s.Execute(
                """
                INSERT INTO rounds(model, round, round_id, base_version, status, selected, contributors, samples, rejected, new_version, started_ms, ended_ms, notes)
                VALUES (@m, @r, @id, @b, @st, @sel, @c, @s, @rej, @nv, @t0, @t1, @n)
                ON CONFLICT(model, round) DO UPDATE SET round_id = excluded.round_id, base_version = excluded.base_version, status = excluded.status,
                    selected = excluded.selected, contributors = excluded.contributors, samples = excluded.samples, rejected = excluded.rejected,
                    new_version = excluded.new_version, started_ms = excluded.started_ms, ended_ms = excluded.ended_ms, notes = excluded.notes
                """,
                ("@m", r.Model), ("@r", r.Round), ("@id", r.RoundId), ("@b", (long)r.BaseVersion), ("@st", EdgeMlOps.Aggregator.Rounds.RoundStatusJsonConverter.Text(r.Status)), ("@sel", r.Selected),
                ("@c", r.Contributors), ("@s", r.Samples), ("@rej", r.Rejected), ("@nv", r.NewVersion is { } nv ? (long)nv : null),
                ("@t0", r.StartedAt.ToUnixTimeMilliseconds()), ("@t1", r.EndedAt.ToUnixTimeMilliseconds()), ("@n", NotesText.Write(r.Notes)));
        });
    }

    /// <summary>
    /// Records that round <paramref name="round"/> of <paramref name="model"/> is starting (durably, before any task
    /// leaves) and returns which attempt this is: 1 normally, more when an earlier attempt was cut short by a crash.
    /// </summary>
    public int BeginRoundAttempt(string model, long round)
    {
        return _db.Run(s => (int)s.Long(
            "INSERT INTO round_attempts(model, round, attempts) VALUES (@m, @r, 1) ON CONFLICT(model, round) DO UPDATE SET attempts = round_attempts.attempts + 1 RETURNING attempts",
            ("@m", model), ("@r", round)));
    }

    /// <summary>Highest round number recorded for <paramref name="model"/> (0 if none).</summary>
    public long LastRound(string model)
    {
        return _db.Run(s => s.Long("SELECT COALESCE(MAX(round), 0) FROM rounds WHERE model = @m", ("@m", model)));
    }

    /// <summary>Saves server-side strategy state (optimizer moments, DP accountant) as of <paramref name="version"/>.</summary>
    public void SaveStrategyState(string model, ulong version, IReadOnlyList<float[]> state)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer))
        {
            writer.Write(state.Count);
            foreach (var vector in state)
            {
                writer.Write(vector.Length);
                writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(vector.AsSpan()));
            }
        }

        _db.Run(s =>
        {
            s.Execute(
                "INSERT INTO strategy_state(model, version, state) VALUES (@m, @v, @s) ON CONFLICT(model) DO UPDATE SET version = excluded.version, state = excluded.state",
                ("@m", model), ("@v", (long)version), ("@s", buffer.ToArray()));
        });
    }

    /// <summary>The saved strategy state, if it was saved for <paramref name="version"/> (state of another version does not apply).</summary>
    public IReadOnlyList<float[]>? LoadStrategyState(string model, ulong version)
    {
        if (_db.Run(s => s.Scalar("SELECT state FROM strategy_state WHERE model = @m AND version = @v", ("@m", model), ("@v", (long)version))) is not byte[] bytes) return null;

        using var reader = new BinaryReader(new MemoryStream(bytes));
        var count = reader.ReadInt32();
        var state = new List<float[]>(count);
        for (var i = 0; i < count; i++)
        {
            var vector = new float[reader.ReadInt32()];
            reader.Read(System.Runtime.InteropServices.MemoryMarshal.AsBytes(vector.AsSpan()));
            state.Add(vector);
        }

        return state;
    }

    public void Dispose() => _db.Dispose();

    private List<ModelVersionRecord> Versions(string model, string suffix, params (string Name, object? Value)[] parameters)
    {
        return _db.Run(s => s.Query(
            """
            SELECT v.model, v.version, parent, round, contributors, samples, inference_sha, inference_size, train_sha, train_size, eval_accuracy, eval_loss, train_loss, created_ms,
                   COALESCE(s.state, 'deployed'), COALESCE(s.created_by, 'system'), s.reason, v.task_scores, v.pruned_ms
            FROM versions v LEFT JOIN version_states s ON s.model = v.model AND s.version = v.version
            WHERE v.model = @m 
            """ + suffix,
            reader => new ModelVersionRecord(
                reader.GetString(0), (ulong)reader.GetInt64(1), (ulong)reader.GetInt64(2), reader.GetInt64(3), (int)reader.GetInt64(4), reader.GetInt64(5),
                reader.GetString(6), reader.GetInt64(7), reader.GetString(8), reader.GetInt64(9),
                reader.IsDBNull(10) ? null : reader.GetDouble(10), reader.IsDBNull(11) ? null : reader.GetDouble(11), reader.IsDBNull(12) ? null : reader.GetDouble(12),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(13)))
            {
                State = reader.GetString(14),
                CreatedBy = reader.GetString(15),
                StateReason = reader.IsDBNull(16) ? null : reader.GetString(16),
                TaskScores = reader.IsDBNull(17) ? null : TaskScoresColumn.Read(reader.GetString(17)),
                ArtifactsPrunedAt = reader.IsDBNull(18) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(18)),
            },
            [("@m", model), .. parameters]));
    }
}
