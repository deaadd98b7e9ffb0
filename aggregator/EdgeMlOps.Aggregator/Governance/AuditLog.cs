using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using EdgeMlOps.Aggregator.Storage;

namespace EdgeMlOps.Aggregator.Governance;

/// <summary>One audit entry: who did what to which subject, when, why, and the state before and after.</summary>
public sealed record AuditEntry(
    long Sequence,
    DateTimeOffset At,
    string Actor,
    string Action,
    string Subject,
    string Reason,
    string? Before,
    string? After,
    string PreviousHash,
    string Hash);

/// <summary>The outcome of <see cref="AuditLog.Verify"/>: intact, or the first entry that is not.</summary>
public sealed record AuditVerification(bool Intact, long Entries, string HeadHash, long? FirstBadSequence, string? Problem);

/// <summary>
/// Append-only, hash-chained audit log (SQLite or PostgreSQL). Each entry's hash covers its fields and the
/// previous entry's hash, so editing, removing or reordering any entry breaks the chain from there on. The head
/// (last sequence and hash) is also kept apart from the entries — in a file beside a SQLite log, in the
/// <c>audit_head</c> row on PostgreSQL (which every replica appends through) — so cutting entries off the end is
/// detected too; operators can copy the head elsewhere (it is printed by <c>edgemlops audit verify</c>) for an
/// anchor outside this machine.
/// </summary>
public sealed class AuditLog : IDisposable
{
    public const string Genesis = "0000000000000000000000000000000000000000000000000000000000000000";

    /// <summary>The advisory lock appends take on PostgreSQL, so replicas appending together chain one after another.</summary>
    private const long AppendLockKey = 0x45_64_67_65_41_75_64_74; // "EdgeAudt"

    /// <summary>The log's schema, oldest first.</summary>
    public static readonly IReadOnlyList<Migration> Migrations =
    [
        Migration.Sql(1, "hash-chained audit entries", """
            CREATE TABLE IF NOT EXISTS audit(
                seq INTEGER PRIMARY KEY,
                at_ms INTEGER NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                subject TEXT NOT NULL,
                reason TEXT NOT NULL,
                before TEXT,
                after TEXT,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL);
            """),
        Migration.Sql(2, "the head of the chain, for logs whose head is not in a file", """
            CREATE TABLE IF NOT EXISTS audit_head(
                id INTEGER PRIMARY KEY CHECK (id = 1),
                seq INTEGER NOT NULL,
                hash TEXT NOT NULL);
            """),
        Migration.Sql(3, "an id per append (so an append retried after a lost commit acknowledgement is not written twice)", """
            ALTER TABLE audit ADD COLUMN entry_id TEXT;
            CREATE UNIQUE INDEX IF NOT EXISTS audit_entry_id ON audit(entry_id);
            """),
    ];

    /// <summary>An entry's columns, in the order <see cref="Read"/> takes them.</summary>
    private const string Columns = "seq, at_ms, actor, action, subject, reason, before, after, prev_hash, hash";

    private readonly SqlDatabase _db;
    private readonly string? _headPath;

    /// <summary>A log in its own SQLite file (synced on every commit), its head in <c>{path}.head</c>.</summary>
    public AuditLog(string path)
        : this(new SqliteDatabase(path, durable: true), path + ".head")
    {
    }

    /// <summary>A log in <paramref name="database"/>, which it owns from now on; its head in <paramref name="headPath"/>, or in the database when null.</summary>
    public AuditLog(SqlDatabase database, string? headPath)
    {
        _db = database;
        _headPath = headPath;
        _db.Migrate("audit", Migrations);
        if (_headPath is not null) Recovered = CatchUpHeadFile();
    }

    /// <summary>What opening the log repaired, if anything (for the start-up log).</summary>
    public string? Recovered { get; }

    /// <summary>Appends an entry chained to the last one and returns it.</summary>
    public AuditEntry Append(DateTimeOffset at, string actor, string action, string subject, string reason, string? before, string? after)
    {
        var entryId = Guid.NewGuid().ToString("N");
        return _db.Run(s =>
        {
            var entry = s.InTransaction(() =>
            {
                if (s.Engine == StoreEngine.PostgreSql) s.Execute("SELECT pg_advisory_xact_lock(@k)", ("@k", AppendLockKey));
                var committed = s.Query($"SELECT {Columns} FROM audit WHERE entry_id = @id", Read, ("@id", entryId));
                if (committed.Count > 0) return committed[0]; // an earlier attempt committed; its acknowledgement was lost
                var last = s.Query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", r => (Seq: r.GetInt64(0), Hash: r.GetString(1)));
                var (lastSeq, lastHash) = last.Count > 0 ? last[0] : (0L, Genesis);
                var seq = lastSeq + 1;
                var hash = HashOf(seq, at.ToUnixTimeMilliseconds(), actor, action, subject, reason, before, after, lastHash);
                s.Execute(
                    "INSERT INTO audit(seq, at_ms, actor, action, subject, reason, before, after, prev_hash, hash, entry_id) VALUES (@q, @t, @a, @x, @s, @r, @b, @f, @p, @h, @id)",
                    ("@q", seq), ("@t", at.ToUnixTimeMilliseconds()), ("@a", actor), ("@x", action), ("@s", subject), ("@r", reason),
                    ("@b", before), ("@f", after), ("@p", lastHash), ("@h", hash), ("@id", entryId));
                if (_headPath is null)
                {
                    s.Execute("INSERT INTO audit_head(id, seq, hash) VALUES (1, @q, @h) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash", ("@q", seq), ("@h", hash));
                }

                return new AuditEntry(seq, DateTimeOffset.FromUnixTimeMilliseconds(at.ToUnixTimeMilliseconds()), actor, action, subject, reason, before, after, lastHash, hash);
            });

            // A head file moves only after the entry is committed (the session still holds the store, so in order).
            if (_headPath is not null) WriteHeadFile(entry.Sequence, entry.Hash);
            return entry;
        });
    }

    /// <summary>
    /// The newest <paramref name="limit"/> entries before entry <paramref name="before"/> (null: the newest), in order,
    /// optionally only those about <paramref name="subjectPrefix"/>. (A limited read once gave the oldest: the console's
    /// 200 stopped showing anything new once the log was longer.)
    /// </summary>
    public IReadOnlyList<AuditEntry> Entries(string? subjectPrefix = null, int limit = int.MaxValue, long? before = null)
    {
        return _db.Run(s =>
        {
            var about = subjectPrefix is null ? string.Empty : "AND substr(subject, 1, @n) = @p ";
            var entries = s.Query($"SELECT {Columns} FROM audit WHERE seq < @before {about}ORDER BY seq DESC LIMIT @limit", Read,
                ("@before", before ?? long.MaxValue), ("@limit", (long)limit), ("@n", subjectPrefix?.Length ?? 0), ("@p", subjectPrefix ?? string.Empty));
            entries.Reverse();
            return entries;
        });
    }

    /// <summary>Recomputes the chain from the first entry and compares the end with the head.</summary>
    public AuditVerification Verify()
    {
        return _db.Run(s =>
        {
            long expected = 1;
            var previous = Genesis;
            foreach (var e in s.Query($"SELECT {Columns} FROM audit ORDER BY seq", Read))
            {
                if (e.Sequence != expected) return Broken(expected - 1, previous, e.Sequence, $"entry {expected} is missing or out of order (found {e.Sequence})");
                if (e.PreviousHash != previous) return Broken(expected - 1, previous, e.Sequence, $"entry {e.Sequence} does not chain to entry {e.Sequence - 1}");
                var recomputed = HashOf(e.Sequence, e.At.ToUnixTimeMilliseconds(), e.Actor, e.Action, e.Subject, e.Reason, e.Before, e.After, e.PreviousHash);
                if (recomputed != e.Hash) return Broken(expected - 1, previous, e.Sequence, $"entry {e.Sequence} was edited (its hash no longer matches its content)");
                previous = e.Hash;
                expected++;
            }

            var count = expected - 1;
            var (headSeq, headHash) = _headPath is null ? ReadHeadRow(s) : ReadHeadFile();
            if (headSeq != count || headHash != previous)
            {
                return Broken(count, previous, Math.Min(count, headSeq) + 1, $"the log ends at entry {count} but its head records entry {headSeq} (entries removed from the end?)");
            }

            return new AuditVerification(true, count, previous, null, null);
        });
    }

    public void Dispose() => _db.Dispose();

    private static AuditVerification Broken(long entries, string head, long bad, string problem) => new(false, entries, head, bad, problem);

    private static (long Seq, string Hash) ReadHeadRow(SqlSession s)
    {
        var rows = s.Query("SELECT seq, hash FROM audit_head WHERE id = 1", r => (r.GetInt64(0), r.GetString(1)));
        return rows.Count > 0 ? rows[0] : (0, Genesis);
    }

    private (long Seq, string Hash) ReadHeadFile()
    {
        if (!File.Exists(_headPath)) return (0, Genesis);
        var parts = File.ReadAllText(_headPath!).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return parts.Length == 2 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var seq) ? (seq, parts[1]) : (-1, string.Empty);
    }

    /// <summary>
    /// A head file behind the log whose recorded entry is still in the chain means the process stopped between
    /// committing an entry and moving the head (or a backup copied the head before the log): the head moves to the
    /// log's end. Nothing is lost to tampering by this: whoever can append to the log can also write the file beside
    /// it; entries removed from the end still leave the head ahead of the log, which <see cref="Verify"/> reports.
    /// </summary>
    private string? CatchUpHeadFile()
    {
        var (headSeq, headHash) = ReadHeadFile();
        return _db.Run(s =>
        {
            var last = s.Query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", r => (Seq: r.GetInt64(0), Hash: r.GetString(1)));
            if (headSeq < 0 || last.Count == 0 || last[0].Seq <= headSeq) return null;
            var atHead = headSeq == 0 ? Genesis : s.Query("SELECT hash FROM audit WHERE seq = @q", r => r.GetString(0), ("@q", headSeq)).FirstOrDefault();
            if (atHead != headHash) return null;
            WriteHeadFile(last[0].Seq, last[0].Hash);
            return $"the head recorded entry {headSeq} but the log holds {last[0].Seq} (stopped between an entry and its head, or a backup); head moved to entry {last[0].Seq}";
        });
    }

    private void WriteHeadFile(long seq, string hash)
    {
        Runtime.Storage.AtomicFile.Write(_headPath!, System.Text.Encoding.ASCII.GetBytes(FormattableString.Invariant($"{seq} {hash}\n")), durable: false);
    }

    private static AuditEntry Read(System.Data.Common.DbDataReader r) => new(
        r.GetInt64(0), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5),
        r.IsDBNull(6) ? null : r.GetString(6), r.IsDBNull(7) ? null : r.GetString(7), r.GetString(8), r.GetString(9));

    /// <summary>sha256 over every field, each length-prefixed (so no two field lists encode alike).</summary>
    private static string HashOf(long seq, long atMs, string actor, string action, string subject, string reason, string? before, string? after, string previousHash)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Number(long value)
        {
            Span<byte> number = stackalloc byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(number, value);
            hash.AppendData(number);
        }

        void Add(string? text)
        {
            var bytes = text is null ? [] : Encoding.UTF8.GetBytes(text);
            Number(text is null ? -1 : bytes.Length);
            hash.AppendData(bytes);
        }

        Number(seq);
        Number(atMs);
        Add(actor);
        Add(action);
        Add(subject);
        Add(reason);
        Add(before);
        Add(after);
        Add(previousHash);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
