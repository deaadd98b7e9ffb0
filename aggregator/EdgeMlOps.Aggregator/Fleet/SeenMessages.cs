using EdgeMlOps.Runtime.Storage;
using Microsoft.Data.Sqlite;

namespace EdgeMlOps.Aggregator.Fleet;

/// <summary>
/// The message ids already processed, per sending device, kept across restarts (SQLite,
/// <c>messages.db</c>; a commit survives a killed process, not a power cut, like the WAL of every
/// unsynced store here). A message redelivered after a crash — QoS 1 from a persistent session, a
/// device's outbox resending — is recognised and counted once. Ids are scoped by the authenticated
/// sender, so no device can spend another's ids. Entries older than <see cref="Retention"/> are pruned.
/// </summary>
public sealed class SeenMessages : IDisposable
{
    /// <summary>How long an id is remembered (far beyond any round deadline, outbox age or session expiry).</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(7);

    /// <summary>Prune once per this many new ids.</summary>
    private const int PruneEvery = 10_000;

    private readonly SqliteConnection _connection;
    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private long _added;

    public SeenMessages(string path, TimeProvider time)
    {
        _time = time;
        _connection = SqliteFile.Open(path, durable: false, """
            CREATE TABLE IF NOT EXISTS seen_messages(
                device_id TEXT NOT NULL, message_id TEXT NOT NULL, at_ms INTEGER NOT NULL, PRIMARY KEY(device_id, message_id)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS seen_messages_at ON seen_messages(at_ms);
            """);
        Prune();
    }

    /// <summary>Records <paramref name="messageId"/> from <paramref name="deviceId"/>; false when it was processed before.</summary>
    public bool TryAdd(string deviceId, string messageId)
    {
        lock (_gate)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "INSERT OR IGNORE INTO seen_messages VALUES($d, $m, $t)";
            cmd.Parameters.AddWithValue("$d", deviceId);
            cmd.Parameters.AddWithValue("$m", messageId);
            cmd.Parameters.AddWithValue("$t", _time.GetUtcNow().ToUnixTimeMilliseconds());
            if (cmd.ExecuteNonQuery() == 0) return false;
            if (++_added % PruneEvery == 0) Prune();
            return true;
        }
    }

    /// <summary>Ids remembered now.</summary>
    public long Count
    {
        get
        {
            lock (_gate)
            {
                using var cmd = _connection.CreateCommand();
                cmd.CommandText = "SELECT COUNT(*) FROM seen_messages";
                return (long)cmd.ExecuteScalar()!;
            }
        }
    }

    public void Dispose() => _connection.Dispose();

    private void Prune()
    {
        lock (_gate)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "DELETE FROM seen_messages WHERE at_ms < $t";
            cmd.Parameters.AddWithValue("$t", (_time.GetUtcNow() - Retention).ToUnixTimeMilliseconds());
            cmd.ExecuteNonQuery();
        }
    }
}
