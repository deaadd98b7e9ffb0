using System.Runtime.InteropServices;
using EdgeMlOps.Runtime.Storage;
using Microsoft.Data.Sqlite;

namespace EdgeMlOps.Agent.Storage;

/// <summary>A served prediction waiting for its ground truth.</summary>
public sealed record StoredPrediction(float[] Features, long Label, ulong ModelVersion);

/// <summary>
/// The device's local SQLite store: labelled samples (bounded, oldest out first) and recent
/// predictions awaiting ground truth. Raw data stays here; it never leaves the device.
/// One connection, serialised by a lock (SQLite connections are not thread-safe).
/// </summary>
public sealed class SampleStore : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly object _gate = new();
    private readonly int _maxSamples;
    private readonly int _maxPredictions;
    private readonly TimeProvider _time;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, PendingPrediction> _pending = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _pendingOrder = new();
    private readonly TimeSpan? _maxSampleAge;

    /// <param name="path">SQLite file.</param>
    /// <param name="maxSamples">Samples kept; the oldest go first.</param>
    /// <param name="maxPendingPredictions">Predictions kept for feedback by id.</param>
    /// <param name="time">Clock for sample ages.</param>
    /// <param name="maxSampleAge">Samples older than this are deleted (null: no age limit).</param>
    /// <param name="maxBytes">Largest the database file may grow (0: as large as the disk allows); beyond it writes fail as on a full disk.</param>
    public SampleStore(string path, int maxSamples, int maxPendingPredictions, TimeProvider? time = null, TimeSpan? maxSampleAge = null, long maxBytes = 0)
    {
        _maxSampleAge = maxSampleAge;
        _maxSamples = maxSamples;
        _maxPredictions = maxPendingPredictions;
        _time = time ?? TimeProvider.System;
        _connection = SqliteFile.Open(path, durable: false, """
            CREATE TABLE IF NOT EXISTS samples(
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                features BLOB NOT NULL,
                label INTEGER NOT NULL,
                created_ms INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS predictions(
                id TEXT PRIMARY KEY,
                features BLOB NOT NULL,
                label INTEGER NOT NULL,
                model_version INTEGER NOT NULL,
                created_ms INTEGER NOT NULL);
            """, SqliteFile.DeviceCacheKib);
        AddColumn("target", "BLOB");
        AddColumn("state_version", "INTEGER"); // the version whose state a streaming model's row holds; null for others
        if (maxBytes > 0)
        {
            using var cap = _connection.CreateCommand();
            cap.CommandText = "PRAGMA page_size";
            var pageSize = Convert.ToInt64(cap.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
            cap.CommandText = $"PRAGMA max_page_count = {Math.Max(8, maxBytes / pageSize)}";
            cap.ExecuteNonQuery();
        }
    }

    public int SampleCount
    {
        get
        {
            lock (_gate) return Convert.ToInt32(Scalar("SELECT COUNT(*) FROM samples"));
        }
    }

    /// <summary>Adds labelled samples in one transaction, then trims to the retention bound.</summary>
    /// <param name="samples">The rows and their labels.</param>
    /// <param name="stateVersion">For a streaming model's rows: the version whose state they hold (null for any other model).</param>
    public void AddSamples(IReadOnlyList<(float[] Features, long Label)> samples, ulong? stateVersion = null) =>
        Insert(samples.Select(s => (s.Features, s.Label, (float[]?)null)), stateVersion);

    /// <summary>
    /// Adds a regressor's ground truth (each sample's float targets; its label is −1) in one transaction, trimmed to the
    /// retention bound as labelled samples are.
    /// </summary>
    public void AddTargets(IReadOnlyList<(float[] Features, float[] Target)> samples, ulong? stateVersion = null) =>
        Insert(samples.Select(s => (s.Features, -1L, (float[]?)s.Target)), stateVersion);

    /// <summary>Inserts samples (a class label, or −1 and a regressor's targets) in one transaction, then trims.</summary>
    private void Insert(IEnumerable<(float[] Features, long Label, float[]? Target)> samples, ulong? stateVersion)
    {
        lock (_gate)
        {
            using var tx = _connection.BeginTransaction();
            using var insert = _connection.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = "INSERT INTO samples(features, label, target, created_ms, state_version) VALUES ($f, $l, $y, $t, $s)";
            insert.Parameters.AddWithValue("$s", stateVersion is { } made ? (object)(long)made : DBNull.Value);
            var f = insert.Parameters.Add("$f", SqliteType.Blob);
            var l = insert.Parameters.Add("$l", SqliteType.Integer);
            var y = insert.Parameters.Add("$y", SqliteType.Blob);
            insert.Parameters.AddWithValue("$t", _time.GetUtcNow().ToUnixTimeMilliseconds());
            foreach (var (features, label, target) in samples)
            {
                f.Value = MemoryMarshal.AsBytes(features.AsSpan()).ToArray();
                l.Value = label;
                y.Value = target is null ? DBNull.Value : MemoryMarshal.AsBytes(target.AsSpan()).ToArray();
                insert.ExecuteNonQuery();
            }

            Trim(tx);
            tx.Commit();
        }
    }

    /// <summary>Deletes samples beyond the retention bound and older than the age limit (in <paramref name="tx"/>).</summary>
    private void Trim(SqliteTransaction tx)
    {
        using var trim = _connection.CreateCommand();
        trim.Transaction = tx;
        trim.CommandText = "DELETE FROM samples WHERE id <= (SELECT MAX(id) FROM samples) - $max OR created_ms < $oldest";
        trim.Parameters.AddWithValue("$max", _maxSamples);
        trim.Parameters.AddWithValue("$oldest", _maxSampleAge is { } age ? (_time.GetUtcNow() - age).ToUnixTimeMilliseconds() : long.MinValue);
        trim.ExecuteNonQuery();
    }

    /// <summary>A regressor's targets beside each sample: added to a store written before regressors (NULL for class labels).</summary>
    /// <summary>Adds a column a store made by an older agent lacks (its rows then hold null there).</summary>
    private void AddColumn(string name, string type)
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = $"SELECT COUNT(*) FROM pragma_table_info('samples') WHERE name = '{name}'";
        if (Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) > 0) return;
        cmd.CommandText = $"ALTER TABLE samples ADD COLUMN {name} {type}";
        cmd.ExecuteNonQuery();
    }

    /// <summary>
    /// Remembers a prediction so later feedback can label it by id. Serving must not wait for a
    /// database write per request, so predictions are buffered in memory and written in one
    /// transaction per batch (<see cref="FlushPredictions"/>, called by the agent every few ms and
    /// whenever the buffer fills). A crash loses at most the unflushed tail; those ids then simply
    /// cannot receive feedback.
    /// </summary>
    public void AddPrediction(string id, float[] features, long label, ulong modelVersion)
    {
        if (_maxPredictions == 0) return;
        _pending[id] = new PendingPrediction(features, label, modelVersion, _time.GetUtcNow().ToUnixTimeMilliseconds());
        _pendingOrder.Enqueue(id);
        if (_pendingOrder.Count >= 512) FlushPredictions();
    }

    /// <summary>Writes buffered predictions to SQLite in one transaction and trims to the bound.</summary>
    public void FlushPredictions()
    {
        lock (_gate)
        {
            if (_pendingOrder.IsEmpty) return;
            using var tx = _connection.BeginTransaction();
            using var insert = _connection.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = "INSERT OR REPLACE INTO predictions(id, features, label, model_version, created_ms) VALUES ($id, $f, $l, $v, $t)";
            var id = insert.Parameters.Add("$id", SqliteType.Text);
            var f = insert.Parameters.Add("$f", SqliteType.Blob);
            var l = insert.Parameters.Add("$l", SqliteType.Integer);
            var v = insert.Parameters.Add("$v", SqliteType.Integer);
            var t = insert.Parameters.Add("$t", SqliteType.Integer);
            while (_pendingOrder.TryDequeue(out var key))
            {
                // Already labelled (taken) while buffered: nothing to keep.
                if (!_pending.TryRemove(key, out var p)) continue;
                id.Value = key;
                f.Value = MemoryMarshal.AsBytes(p.Features.AsSpan()).ToArray();
                l.Value = p.Label;
                v.Value = (long)p.ModelVersion;
                t.Value = p.CreatedMs;
                insert.ExecuteNonQuery();
            }

            using var trim = _connection.CreateCommand();
            trim.Transaction = tx;
            trim.CommandText = "DELETE FROM predictions WHERE rowid <= (SELECT MAX(rowid) FROM predictions) - $max";
            trim.Parameters.AddWithValue("$max", _maxPredictions);
            trim.ExecuteNonQuery();
            tx.Commit();
        }
    }

    /// <summary>Removes and returns the features of a pending prediction, or null if unknown (or expired).</summary>
    public float[]? TakePrediction(string id) => Take(id)?.Features;

    /// <summary>Removes and returns a pending prediction (features, predicted label, model version), or null.</summary>
    public StoredPrediction? Take(string id)
    {
        if (_pending.TryRemove(id, out var buffered)) return new StoredPrediction(buffered.Features, buffered.Label, buffered.ModelVersion);
        lock (_gate)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "DELETE FROM predictions WHERE id = $id RETURNING features, label, model_version";
            cmd.Parameters.AddWithValue("$id", id);
            using var reader = cmd.ExecuteReader();
            return reader.Read()
                ? new StoredPrediction(MemoryMarshal.Cast<byte, float>((byte[])reader.GetValue(0)).ToArray(), reader.GetInt64(1), (ulong)reader.GetInt64(2))
                : null;
        }
    }

    private sealed record PendingPrediction(float[] Features, long Label, ulong ModelVersion, long CreatedMs);

    /// <summary>
    /// The newest <paramref name="max"/> samples (all if 0) whose width is <paramref name="inputDim"/> — or, for
    /// samples of several lengths (<paramref name="varying"/>), any width it allows, up to <paramref name="inputDim"/>
    /// — with <paramref name="stateVersion"/>, only rows holding that version's state.
    /// </summary>
    public SampleSet LoadSamples(int inputDim, int max = 0, ulong? stateVersion = null, EdgeMlOps.Shared.Models.SampleLengths? varying = null)
    {
        lock (_gate)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT features, label FROM samples WHERE " + WidthFilter(cmd, inputDim, varying) + " AND target IS NULL" + StateFilter(cmd, stateVersion) + " ORDER BY id DESC LIMIT $max";
            cmd.Parameters.AddWithValue("$max", max <= 0 ? -1 : max);
            var features = new List<float>();
            var labels = new List<long>();
            var widths = new List<int>();
            using var reader = cmd.ExecuteReader();
            while (reader.Read())
            {
                var row = MemoryMarshal.Cast<byte, float>((byte[])reader[0]);
                features.AddRange(row);
                widths.Add(row.Length);
                labels.Add(reader.GetInt64(1));
            }

            return new SampleSet(features.ToArray(), labels.ToArray(), inputDim) { RowLengths = varying is null ? null : [.. widths] };
        }
    }

    /// <summary>The condition keeping rows of <paramref name="inputDim"/> values, or of any length <paramref name="varying"/> allows.</summary>
    private static string WidthFilter(SqliteCommand cmd, int inputDim, EdgeMlOps.Shared.Models.SampleLengths? varying)
    {
        if (varying is null)
        {
            cmd.Parameters.AddWithValue("$bytes", inputDim * sizeof(float));
            return "length(features) = $bytes";
        }

        var step = (long)varying.StepWidth * sizeof(float);
        cmd.Parameters.AddWithValue("$shortestBytes", varying.ValuesAt(varying.Shortest) * sizeof(float));
        cmd.Parameters.AddWithValue("$bytes", varying.ValuesAt(varying.Longest) * sizeof(float));
        cmd.Parameters.AddWithValue("$stepBytes", step);
        cmd.Parameters.AddWithValue("$trailingBytes", (long)varying.Trailing * sizeof(float)); // context values after the features
        return "length(features) BETWEEN $shortestBytes AND $bytes AND (length(features) - $trailingBytes) % $stepBytes = 0";
    }

    /// <summary>The newest <paramref name="max"/> (all if 0) of a regressor's samples: <paramref name="inputDim"/> features and <paramref name="targetWidth"/> targets each.</summary>
    public SampleSet LoadTargets(int inputDim, int targetWidth, int max = 0, ulong? stateVersion = null, EdgeMlOps.Shared.Models.SampleLengths? varying = null)
    {
        lock (_gate)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT features, target FROM samples WHERE " + WidthFilter(cmd, inputDim, varying) + " AND length(target) = $targetBytes" + StateFilter(cmd, stateVersion) + " ORDER BY id DESC LIMIT $max";
            cmd.Parameters.AddWithValue("$targetBytes", targetWidth * sizeof(float));
            cmd.Parameters.AddWithValue("$max", max <= 0 ? -1 : max);
            var features = new List<float>();
            var targets = new List<float>();
            var widths = new List<int>();
            using var reader = cmd.ExecuteReader();
            while (reader.Read())
            {
                var row = MemoryMarshal.Cast<byte, float>((byte[])reader[0]);
                features.AddRange(row);
                widths.Add(row.Length);
                targets.AddRange(MemoryMarshal.Cast<byte, float>((byte[])reader[1]));
            }

            var count = targets.Count / Math.Max(1, targetWidth);
            return new SampleSet(features.ToArray(), Enumerable.Repeat(-1L, count).ToArray(), inputDim) { Targets = targets.ToArray(), TargetWidth = targetWidth, RowLengths = varying is null ? null : [.. widths] };
        }
    }

    /// <summary>The condition keeping only rows that hold <paramref name="stateVersion"/>'s state (none without one).</summary>
    private static string StateFilter(SqliteCommand cmd, ulong? stateVersion)
    {
        if (stateVersion is not { } version) return string.Empty;
        cmd.Parameters.AddWithValue("$sv", (long)version);
        return " AND state_version = $sv";
    }

    /// <summary>Deletes every sample and pending prediction and compacts the file so nothing lingers in free pages.</summary>
    public (int Samples, int Predictions) EraseAll()
    {
        lock (_gate)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "DELETE FROM samples";
            var samples = cmd.ExecuteNonQuery();
            cmd.CommandText = "DELETE FROM predictions";
            var predictions = cmd.ExecuteNonQuery() + _pending.Count;
            _pending.Clear();
            _pendingOrder.Clear();
            cmd.CommandText = "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;";
            cmd.ExecuteNonQuery();
            return (samples, predictions);
        }
    }

    public void Dispose()
    {
        FlushPredictions();
        lock (_gate) _connection.Dispose();
    }

    private object? Scalar(string sql)
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }
}
