using EdgeMlOps.Aggregator.Storage;

namespace EdgeMlOps.Aggregator.Security;

/// <summary>One security event as operators see it.</summary>
public sealed record SecurityEvent(long Id, DateTimeOffset At, SecurityEventKind Kind, string Subject, string Detail);

/// <summary>A device's enrollment state.</summary>
public sealed record EnrolledDevice(string DeviceId, string Serial, DateTimeOffset NotAfter, DateTimeOffset IssuedAt, DateTimeOffset? RevokedAt, string? RevocationReason);

/// <summary>
/// What the fleet's security remembers across restarts: enrollment tokens (only their SHA-256), certificates
/// issued, revoked devices (SQLite <c>security.db</c>, synced on every commit, or PostgreSQL); and the
/// security-event log (<c>security.events.db</c>, not synced per event, or PostgreSQL), newest <see cref="MaxEvents"/> kept.
/// </summary>
public sealed class SecurityStore : IDisposable
{
    public const int MaxEvents = 10_000;

    /// <summary>Tokens, certificates and revocations, oldest first.</summary>
    public static readonly IReadOnlyList<Migration> Migrations =
    [
        Migration.Sql(1, "enrollment tokens, certificates, revoked devices", """
            CREATE TABLE IF NOT EXISTS enrollment_tokens(
                token_sha256 TEXT PRIMARY KEY, device_id TEXT, expires_ms INTEGER NOT NULL,
                uses_left INTEGER NOT NULL, created_ms INTEGER NOT NULL, created_by TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS certificates(
                serial TEXT PRIMARY KEY, device_id TEXT NOT NULL, not_after_ms INTEGER NOT NULL, issued_ms INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS certificates_device ON certificates(device_id, not_after_ms);
            CREATE TABLE IF NOT EXISTS revoked_devices(
                device_id TEXT PRIMARY KEY, revoked_ms INTEGER NOT NULL, reason TEXT NOT NULL, revoked_by TEXT NOT NULL);
            """),
        Migration.Sql(2, "the key each certificate was issued for (an enrollment asked again for it is answered again)", """
            ALTER TABLE certificates ADD COLUMN key_sha256 TEXT;
            """),
    ];

    /// <summary>The security-event log, oldest first.</summary>
    public static readonly IReadOnlyList<Migration> EventMigrations =
    [
        Migration.Sql(1, "security events", """
            CREATE TABLE IF NOT EXISTS security_events(
                id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, detail TEXT NOT NULL);
            """),
    ];

    private readonly SqlDatabase _db;
    private readonly SqlDatabase _events;
    private long _inserts;

    /// <summary>The store in SQLite files: <paramref name="path"/> and, beside it, <c>*.events.db</c>.</summary>
    public SecurityStore(string path)
        : this(new SqliteDatabase(path, durable: true), new SqliteDatabase(Path.ChangeExtension(path, ".events.db"), durable: false))
    {
    }

    /// <summary>
    /// The store in <paramref name="database"/> and its events in <paramref name="events"/> (both owned from now on).
    /// Events are apart so a stranger's refused handshakes never cost a synced commit each.
    /// </summary>
    public SecurityStore(SqlDatabase database, SqlDatabase events)
    {
        _db = database;
        _events = events;
        _db.Migrate("security", Migrations);
        _events.Migrate("security_events", EventMigrations);
    }

    public void AddToken(string tokenSha256, string? deviceId, DateTimeOffset expires, int uses, DateTimeOffset now, string createdBy) =>
        Execute("INSERT INTO enrollment_tokens(token_sha256, device_id, expires_ms, uses_left, created_ms, created_by) VALUES (@t, @d, @e, @u, @n, @b)",
            ("@t", tokenSha256), ("@d", deviceId), ("@e", expires.ToUnixTimeMilliseconds()), ("@u", uses), ("@n", now.ToUnixTimeMilliseconds()), ("@b", createdBy));

    /// <summary>Spends one use of a one-time token for <paramref name="deviceId"/>; false when unknown, expired, used up or bound to another device.</summary>
    public bool TrySpendToken(string tokenSha256, string deviceId, DateTimeOffset now) =>
        Execute(
            "UPDATE enrollment_tokens SET uses_left = uses_left - 1 WHERE token_sha256 = @t AND uses_left > 0 AND expires_ms > @n AND (device_id IS NULL OR device_id = @d)",
            ("@t", tokenSha256), ("@n", now.ToUnixTimeMilliseconds()), ("@d", deviceId)) == 1;

    /// <summary>Records a certificate issued to <paramref name="deviceId"/> and the key it certifies (<see cref="KeySha256"/>).</summary>
    public void RecordCertificate(string deviceId, string serial, DateTimeOffset notAfter, DateTimeOffset issuedAt, string keySha256) =>
        Execute(
            """
            INSERT INTO certificates(serial, device_id, not_after_ms, issued_ms, key_sha256) VALUES (@s, @d, @a, @i, @k)
            ON CONFLICT(serial) DO UPDATE SET device_id = excluded.device_id, not_after_ms = excluded.not_after_ms, issued_ms = excluded.issued_ms, key_sha256 = excluded.key_sha256
            """,
            ("@s", serial), ("@d", deviceId), ("@a", notAfter.ToUnixTimeMilliseconds()), ("@i", issuedAt.ToUnixTimeMilliseconds()), ("@k", keySha256));

    /// <summary>What <see cref="RecordCertificate"/> keeps of a key: the SHA-256 of its SubjectPublicKeyInfo, lowercase hex.</summary>
    public static string KeySha256(System.Security.Cryptography.X509Certificates.PublicKey key) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(key.ExportSubjectPublicKeyInfo()));

    /// <summary>True when the device holds a certificate that has not expired yet for the key <paramref name="keySha256"/>.</summary>
    public bool HasLiveCertificateFor(string deviceId, string keySha256, DateTimeOffset now)
    {
        return _db.Run(s => s.Long("SELECT COUNT(*) FROM certificates WHERE device_id = @d AND key_sha256 = @k AND not_after_ms > @n",
            ("@d", deviceId), ("@k", keySha256), ("@n", now.ToUnixTimeMilliseconds())) > 0);
    }

    /// <summary>True when the device holds a certificate that has not expired yet.</summary>
    public bool HasLiveCertificate(string deviceId, DateTimeOffset now)
    {
        return _db.Run(s => s.Long("SELECT COUNT(*) FROM certificates WHERE device_id = @d AND not_after_ms > @n", ("@d", deviceId), ("@n", now.ToUnixTimeMilliseconds())) > 0);
    }

    public void Revoke(string deviceId, string reason, string revokedBy, DateTimeOffset now) =>
        Execute(
            """
            INSERT INTO revoked_devices(device_id, revoked_ms, reason, revoked_by) VALUES (@d, @n, @r, @b)
            ON CONFLICT(device_id) DO UPDATE SET revoked_ms = excluded.revoked_ms, reason = excluded.reason, revoked_by = excluded.revoked_by
            """,
            ("@d", deviceId), ("@n", now.ToUnixTimeMilliseconds()), ("@r", reason), ("@b", revokedBy));

    public IReadOnlyList<string> RevokedDevices()
    {
        return _db.Run(s => s.Query("SELECT device_id FROM revoked_devices", r => r.GetString(0)));
    }

    /// <summary>Serial numbers (hex) of every certificate issued to a revoked device.</summary>
    public IReadOnlyList<string> RevokedSerials()
    {
        return _db.Run(s => s.Query("SELECT c.serial FROM certificates c JOIN revoked_devices r ON r.device_id = c.device_id", r => r.GetString(0)));
    }

    /// <summary>Every device that ever enrolled, with its latest-expiring certificate and its revocation if any.</summary>
    public IReadOnlyList<EnrolledDevice> Devices(int limit = int.MaxValue, string? after = null)
    {
        return _db.Run(s => s.Query(
            """
            SELECT c.device_id, c.serial, c.not_after_ms, c.issued_ms, r.revoked_ms, r.reason
            FROM certificates c LEFT JOIN revoked_devices r ON r.device_id = c.device_id
            WHERE c.device_id > @after AND NOT EXISTS (SELECT 1 FROM certificates n WHERE n.device_id = c.device_id
                              AND (n.not_after_ms > c.not_after_ms OR (n.not_after_ms = c.not_after_ms AND n.serial > c.serial)))
            ORDER BY c.device_id LIMIT @limit
            """,
            reader => new EnrolledDevice(
                reader.GetString(0), reader.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)),
                reader.IsDBNull(4) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)), reader.IsDBNull(5) ? null : reader.GetString(5)),
            ("@after", after ?? string.Empty), ("@limit", (long)limit)));
    }

    public void AppendEvent(DateTimeOffset at, SecurityEventKind kind, string subject, string detail)
    {
        _events.Run(s =>
        {
            s.Execute("INSERT INTO security_events(at_ms, kind, subject, detail) VALUES (@a, @k, @s, @d)",
                ("@a", at.ToUnixTimeMilliseconds()), ("@k", kind.ToString()), ("@s", subject), ("@d", detail));
            if (Interlocked.Increment(ref _inserts) % 500 == 0)
            {
                s.Execute("DELETE FROM security_events WHERE id <= (SELECT MAX(id) FROM security_events) - @m", ("@m", MaxEvents));
            }
        });
    }

    /// <summary>The newest events first.</summary>
    public IReadOnlyList<SecurityEvent> RecentEvents(int limit)
    {
        return _events.Run(s => s.Query(
            "SELECT id, at_ms, kind, subject, detail FROM security_events ORDER BY id DESC LIMIT @l",
            reader => new SecurityEvent(reader.GetInt64(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)), Enum.Parse<SecurityEventKind>(reader.GetString(2)), reader.GetString(3), reader.GetString(4)),
            ("@l", limit)));
    }

    public void Dispose()
    {
        _db.Dispose();
        _events.Dispose();
    }

    private int Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        return _db.Run(s => s.Execute(sql, parameters));
    }
}
