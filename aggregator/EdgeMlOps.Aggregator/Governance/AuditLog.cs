using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using EdgeMlOps.Runtime.Storage;
using Microsoft.Data.Sqlite;

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
/// Append-only, hash-chained audit log (SQLite). Each entry's hash covers its fields and the
/// previous entry's hash, so editing, removing or reordering any entry breaks the chain from there
/// on. The head (last sequence and hash) is also kept in a separate file, so cutting entries off
/// the end is detected too; operators can copy the head elsewhere (it is printed by
/// <c>edgemlops audit verify</c>) for an anchor outside this machine.
/// </summary>
public sealed class AuditLog : IDisposable
{
    public const string Genesis = "0000000000000000000000000000000000000000000000000000000000000000";

    private readonly SqliteConnection _connection;
    private readonly string _headPath;
    private readonly object _gate = new();

    public AuditLog(string path)
    {
        _headPath = path + ".head";
        _connection = SqliteFile.Open(path, durable: true, """
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
            """);
    }

    /// <summary>Appends an entry chained to the last one and returns it.</summary>
    public AuditEntry Append(DateTimeOffset at, string actor, string action, string subject, string reason, string? before, string? after)
    {
        lock (_gate)
        {
            var (lastSeq, lastHash) = Head();
            var seq = lastSeq + 1;
            var hash = HashOf(seq, at.ToUnixTimeMilliseconds(), actor, action, subject, reason, before, after, lastHash);
            using (var cmd = _connection.CreateCommand())
            {
                cmd.CommandText = "INSERT INTO audit(seq, at_ms, actor, action, subject, reason, before, after, prev_hash, hash) VALUES ($q, $t, $a, $x, $s, $r, $b, $f, $p, $h)";
                cmd.Parameters.AddWithValue("$q", seq);
                cmd.Parameters.AddWithValue("$t", at.ToUnixTimeMilliseconds());
                cmd.Parameters.AddWithValue("$a", actor);
                cmd.Parameters.AddWithValue("$x", action);
                cmd.Parameters.AddWithValue("$s", subject);
                cmd.Parameters.AddWithValue("$r", reason);
                cmd.Parameters.AddWithValue("$b", (object?)before ?? DBNull.Value);
                cmd.Parameters.AddWithValue("$f", (object?)after ?? DBNull.Value);
                cmd.Parameters.AddWithValue("$p", lastHash);
                cmd.Parameters.AddWithValue("$h", hash);
                cmd.ExecuteNonQuery();
            }

            WriteHead(seq, hash);
            return new AuditEntry(seq, DateTimeOffset.FromUnixTimeMilliseconds(at.ToUnixTimeMilliseconds()), actor, action, subject, reason, before, after, lastHash, hash);
        }
    }

    /// <summary>Entries in order, optionally only those about <paramref name="subjectPrefix"/>.</summary>
    public IReadOnlyList<AuditEntry> Entries(string? subjectPrefix = null, int limit = int.MaxValue)
    {
        lock (_gate)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT seq, at_ms, actor, action, subject, reason, before, after, prev_hash, hash FROM audit ORDER BY seq";
            using var reader = cmd.ExecuteReader();
            var list = new List<AuditEntry>();
            while (reader.Read() && list.Count < limit)
            {
                var entry = Read(reader);
                if (subjectPrefix is null || entry.Subject.StartsWith(subjectPrefix, StringComparison.Ordinal)) list.Add(entry);
            }

            return list;
        }
    }

    /// <summary>Recomputes the chain from the first entry and compares the end with the head file.</summary>
    public AuditVerification Verify()
    {
        lock (_gate)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT seq, at_ms, actor, action, subject, reason, before, after, prev_hash, hash FROM audit ORDER BY rowid";
            using var reader = cmd.ExecuteReader();
            long expected = 1;
            var previous = Genesis;
            while (reader.Read())
            {
                var e = Read(reader);
                if (e.Sequence != expected) return Broken(expected - 1, previous, e.Sequence, $"entry {expected} is missing or out of order (found {e.Sequence})");
                if (e.PreviousHash != previous) return Broken(expected - 1, previous, e.Sequence, $"entry {e.Sequence} does not chain to entry {e.Sequence - 1}");
                var recomputed = HashOf(e.Sequence, e.At.ToUnixTimeMilliseconds(), e.Actor, e.Action, e.Subject, e.Reason, e.Before, e.After, e.PreviousHash);
                if (recomputed != e.Hash) return Broken(expected - 1, previous, e.Sequence, $"entry {e.Sequence} was edited (its hash no longer matches its content)");
                previous = e.Hash;
                expected++;
            }

            var count = expected - 1;
            var (headSeq, headHash) = ReadHeadFile();
            if (headSeq != count || headHash != previous)
            {
                return Broken(count, previous, Math.Min(count, headSeq) + 1, $"the log ends at entry {count} but its head records entry {headSeq} (entries removed from the end?)");
            }

            return new AuditVerification(true, count, previous, null, null);
        }
    }

    public void Dispose()
    {
        lock (_gate) _connection.Dispose();
    }

    private static AuditVerification Broken(long entries, string head, long bad, string problem) => new(false, entries, head, bad, problem);

    private (long Seq, string Hash) Head()
    {
        using var cmd = _connection.CreateCommand();
        cmd.CommandText = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";
        using var reader = cmd.ExecuteReader();
        return reader.Read() ? (reader.GetInt64(0), reader.GetString(1)) : (0, Genesis);
    }

    private (long Seq, string Hash) ReadHeadFile()
    {
        if (!File.Exists(_headPath)) return (0, Genesis);
        var parts = File.ReadAllText(_headPath).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return parts.Length == 2 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var seq) ? (seq, parts[1]) : (-1, string.Empty);
    }

    private void WriteHead(long seq, string hash)
    {
        var temp = _headPath + ".tmp";
        File.WriteAllText(temp, FormattableString.Invariant($"{seq} {hash}\n"));
        File.Move(temp, _headPath, overwrite: true);
    }

    private static AuditEntry Read(SqliteDataReader r) => new(
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
