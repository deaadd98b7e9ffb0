using EdgeMlOps.Aggregator.Storage;

namespace EdgeMlOps.Aggregator.Fleet;

/// <summary>
/// The message ids already processed, per sending device, kept across restarts (SQLite,
/// <c>messages.db</c>, or PostgreSQL; a commit survives a killed process, not a power cut, like the WAL of every
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

    /// <summary>The store's schema, oldest first.</summary>
    public static readonly IReadOnlyList<Migration> Migrations =
    [
        Migration.Sql(1, "seen message ids per device", """
            CREATE TABLE IF NOT EXISTS seen_messages(
                device_id TEXT NOT NULL, message_id TEXT NOT NULL, at_ms INTEGER NOT NULL, PRIMARY KEY(device_id, message_id)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS seen_messages_at ON seen_messages(at_ms);
            """),
        Migration.Sql(2, "who claimed each id (so an insert retried after a lost commit acknowledgement is still ours)", """
            ALTER TABLE seen_messages ADD COLUMN claim TEXT;
            """),
    ];

    private readonly SqlDatabase _db;
    private readonly TimeProvider _time;
    private long _added;

    /// <summary>The ids in their own SQLite file (not synced per commit).</summary>
    public SeenMessages(string path, TimeProvider time)
        : this(new SqliteDatabase(path, durable: false), time)
    {
    }

    /// <summary>The ids in <paramref name="database"/>, which it owns from now on.</summary>
    public SeenMessages(SqlDatabase database, TimeProvider time)
    {
        _time = time;
        _db = database;
        _db.Migrate("messages", Migrations);
        Prune();
    }

    /// <summary>Records <paramref name="messageId"/> from <paramref name="deviceId"/>; false when it was processed before.</summary>
    public bool TryAdd(string deviceId, string messageId) => TryAdd(deviceId, messageId, Guid.NewGuid().ToString("N"));

    /// <summary>
    /// <see cref="TryAdd(string, string)"/> under a claim: an id already recorded with this same claim is ours (the
    /// first attempt committed, its acknowledgement was lost, <see cref="SqlDatabase.Run{T}"/> tried again), not a duplicate.
    /// </summary>
    internal bool TryAdd(string deviceId, string messageId, string claim)
    {
        var ours = _db.Run(s =>
            s.Execute("INSERT INTO seen_messages(device_id, message_id, at_ms, claim) VALUES (@d, @m, @t, @c) ON CONFLICT DO NOTHING",
                ("@d", deviceId), ("@m", messageId), ("@t", _time.GetUtcNow().ToUnixTimeMilliseconds()), ("@c", claim)) == 1
            || s.Scalar("SELECT claim FROM seen_messages WHERE device_id = @d AND message_id = @m", ("@d", deviceId), ("@m", messageId)) as string == claim);
        if (ours && Interlocked.Increment(ref _added) % PruneEvery == 0) Prune();
        return ours;
    }

    /// <summary>Ids remembered now.</summary>
    public long Count
    {
        get
        {
            return _db.Run(s => s.Long("SELECT COUNT(*) FROM seen_messages"));
        }
    }

    public void Dispose() => _db.Dispose();

    private void Prune()
    {
        _db.Run(s =>
        {
            s.Execute("DELETE FROM seen_messages WHERE at_ms < @t", ("@t", (_time.GetUtcNow() - Retention).ToUnixTimeMilliseconds()));
        });
    }
}
