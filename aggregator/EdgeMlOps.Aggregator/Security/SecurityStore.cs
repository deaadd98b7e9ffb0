using EdgeMlOps.Runtime.Storage;
using Microsoft.Data.Sqlite;

namespace EdgeMlOps.Aggregator.Security;

/// <summary>One security event as operators see it.</summary>
public sealed record SecurityEvent(long Id, DateTimeOffset At, SecurityEventKind Kind, string Subject, string Detail);

/// <summary>A device's enrollment state.</summary>
public sealed record EnrolledDevice(string DeviceId, string Serial, DateTimeOffset NotAfter, DateTimeOffset IssuedAt, DateTimeOffset? RevokedAt, string? RevocationReason);

/// <summary>
/// What the fleet's security remembers across restarts (SQLite, <c>security.db</c>, synced on every
/// commit): enrollment tokens (only their SHA-256), certificates issued, revoked devices; and the
/// security-event log (<c>security.events.db</c>, newest <see cref="MaxEvents"/> kept, not synced per event).
/// </summary>
public sealed class SecurityStore : IDisposable
{
    public const int MaxEvents = 10_000;

    private readonly SqliteConnection _connection;
    private readonly SqliteConnection _events;
    private readonly object _gate = new();
    private long _inserts;

    public SecurityStore(string path)
    {
        _connection = SqliteFile.Open(path, durable: true, """
            CREATE TABLE IF NOT EXISTS enrollment_tokens(
                token_sha256 TEXT PRIMARY KEY, device_id TEXT, expires_ms INTEGER NOT NULL,
                uses_left INTEGER NOT NULL, created_ms INTEGER NOT NULL, created_by TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS certificates(
                serial TEXT PRIMARY KEY, device_id TEXT NOT NULL, not_after_ms INTEGER NOT NULL, issued_ms INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS certificates_device ON certificates(device_id, not_after_ms);
            CREATE TABLE IF NOT EXISTS revoked_devices(
                device_id TEXT PRIMARY KEY, revoked_ms INTEGER NOT NULL, reason TEXT NOT NULL, revoked_by TEXT NOT NULL);
            """);

        // Events go to their own file without a sync per commit: a stranger's refused handshakes must not cost the
        // aggregator a disk flush each. Tokens, certificates and revocations above are synced on every commit.
        _events = SqliteFile.Open(Path.ChangeExtension(path, ".events.db"), durable: false, """
            CREATE TABLE IF NOT EXISTS security_events(
                id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, detail TEXT NOT NULL);
            """);
    }

    public void AddToken(string tokenSha256, string? deviceId, DateTimeOffset expires, int uses, DateTimeOffset now, string createdBy) =>
        Execute("INSERT INTO enrollment_tokens VALUES($t, $d, $e, $u, $n, $b)", ("$t", tokenSha256), ("$d", deviceId), ("$e", expires.ToUnixTimeMilliseconds()), ("$u", uses), ("$n", now.ToUnixTimeMilliseconds()), ("$b", createdBy));

    /// <summary>Spends one use of a one-time token for <paramref name="deviceId"/>; false when unknown, expired, used up or bound to another device.</summary>
    public bool TrySpendToken(string tokenSha256, string deviceId, DateTimeOffset now) =>
        Execute(
            "UPDATE enrollment_tokens SET uses_left = uses_left - 1 WHERE token_sha256 = $t AND uses_left > 0 AND expires_ms > $n AND (device_id IS NULL OR device_id = $d)",
            ("$t", tokenSha256), ("$n", now.ToUnixTimeMilliseconds()), ("$d", deviceId)) == 1;

    public void RecordCertificate(string deviceId, string serial, DateTimeOffset notAfter, DateTimeOffset issuedAt) =>
        Execute("INSERT OR REPLACE INTO certificates VALUES($s, $d, $a, $i)", ("$s", serial), ("$d", deviceId), ("$a", notAfter.ToUnixTimeMilliseconds()), ("$i", issuedAt.ToUnixTimeMilliseconds()));

    /// <summary>True when the device holds a certificate that has not expired yet.</summary>
    public bool HasLiveCertificate(string deviceId, DateTimeOffset now) =>
        Scalar("SELECT COUNT(*) FROM certificates WHERE device_id = $d AND not_after_ms > $n", ("$d", deviceId), ("$n", now.ToUnixTimeMilliseconds())) > 0;

    public void Revoke(string deviceId, string reason, string revokedBy, DateTimeOffset now) =>
        Execute("INSERT OR REPLACE INTO revoked_devices VALUES($d, $n, $r, $b)", ("$d", deviceId), ("$n", now.ToUnixTimeMilliseconds()), ("$r", reason), ("$b", revokedBy));

    public IReadOnlyList<string> RevokedDevices()
    {
        lock (_gate)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT device_id FROM revoked_devices";
            using var reader = cmd.ExecuteReader();
            var ids = new List<string>();
            while (reader.Read()) ids.Add(reader.GetString(0));
            return ids;
        }
    }

    /// <summary>Serial numbers (hex) of every certificate issued to a revoked device.</summary>
    public IReadOnlyList<string> RevokedSerials()
    {
        lock (_gate)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT c.serial FROM certificates c JOIN revoked_devices r ON r.device_id = c.device_id";
            using var reader = cmd.ExecuteReader();
            var serials = new List<string>();
            while (reader.Read()) serials.Add(reader.GetString(0));
            return serials;
        }
    }

    /// <summary>Every device that ever enrolled, newest certificate first, with its revocation if any.</summary>
    public IReadOnlyList<EnrolledDevice> Devices()
    {
        lock (_gate)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = """
                SELECT c.device_id, c.serial, MAX(c.not_after_ms), c.issued_ms, r.revoked_ms, r.reason
                FROM certificates c LEFT JOIN revoked_devices r ON r.device_id = c.device_id
                GROUP BY c.device_id ORDER BY c.device_id
                """;
            using var reader = cmd.ExecuteReader();
            var devices = new List<EnrolledDevice>();
            while (reader.Read())
            {
                devices.Add(new EnrolledDevice(
                    reader.GetString(0), reader.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)),
                    reader.IsDBNull(4) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)), reader.IsDBNull(5) ? null : reader.GetString(5)));
            }

            return devices;
        }
    }

    public void AppendEvent(DateTimeOffset at, SecurityEventKind kind, string subject, string detail)
    {
        ExecuteOn(_events, "INSERT INTO security_events(at_ms, kind, subject, detail) VALUES($a, $k, $s, $d)", ("$a", at.ToUnixTimeMilliseconds()), ("$k", kind.ToString()), ("$s", subject), ("$d", detail));
        if (Interlocked.Increment(ref _inserts) % 500 == 0)
        {
            ExecuteOn(_events, "DELETE FROM security_events WHERE id <= (SELECT MAX(id) FROM security_events) - $m", ("$m", MaxEvents));
        }
    }

    /// <summary>The newest events first.</summary>
    public IReadOnlyList<SecurityEvent> RecentEvents(int limit)
    {
        lock (_gate)
        {
            using var cmd = _events.CreateCommand();
            cmd.CommandText = "SELECT id, at_ms, kind, subject, detail FROM security_events ORDER BY id DESC LIMIT $l";
            cmd.Parameters.AddWithValue("$l", limit);
            using var reader = cmd.ExecuteReader();
            var events = new List<SecurityEvent>();
            while (reader.Read())
            {
                events.Add(new SecurityEvent(reader.GetInt64(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)), Enum.Parse<SecurityEventKind>(reader.GetString(2)), reader.GetString(3), reader.GetString(4)));
            }

            return events;
        }
    }

    public void Dispose()
    {
        _connection.Dispose();
        _events.Dispose();
    }

    private int Execute(string sql, params (string Name, object? Value)[] parameters) => ExecuteOn(_connection, sql, parameters);

    private int ExecuteOn(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        lock (_gate)
        {
            using var cmd = Command(connection, sql, parameters);
            return cmd.ExecuteNonQuery();
        }
    }

    private long Scalar(string sql, params (string Name, object? Value)[] parameters)
    {
        lock (_gate)
        {
            using var cmd = Command(_connection, sql, parameters);
            return (long)cmd.ExecuteScalar()!;
        }
    }

    private static SqliteCommand Command(SqliteConnection connection, string sql, (string Name, object? Value)[] parameters)
    {
        var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }
}
