using EdgeMlOps.Shared.Aggregation;
using System.Globalization;
using EdgeMlOps.Aggregator.Storage;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Replicas;

/// <summary>
/// The rounds replicas share, in the fleet's store: the coordinator opens a round (<see cref="Open"/>), every replica
/// claims each device's one contribution (<see cref="Claim"/>) and writes its share while the round is open
/// (<see cref="TryWrite"/>), the coordinator closes it and reads the shares (<see cref="Close"/>). On PostgreSQL a
/// share is written under a shared lock on its round's row and closing takes the row's write lock, so a share is
/// either written before the close and read by it, or refused — never written after the coordinator read.
/// </summary>
public sealed class RoundShares(SqlDatabase database) : IDisposable
{
    /// <summary>How long finished rounds, their claims and shares are kept.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(2);

    /// <summary>The store's schema, oldest first.</summary>
    public static readonly IReadOnlyList<Migration> Migrations =
    [
        Migration.Sql(1, "rounds shared by aggregator replicas, device claims and replica shares", """
            CREATE TABLE IF NOT EXISTS shared_rounds(
                round_id TEXT PRIMARY KEY, model TEXT NOT NULL, base_version INTEGER NOT NULL, round_number INTEGER NOT NULL,
                selected TEXT NOT NULL, eligible INTEGER NOT NULL, target INTEGER NOT NULL, select_count INTEGER NOT NULL,
                seed INTEGER NOT NULL, deadline_ms INTEGER NOT NULL, opened_ms INTEGER NOT NULL, closed INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS round_claims(
                round_id TEXT NOT NULL, device_id TEXT NOT NULL, claim TEXT NOT NULL, PRIMARY KEY(round_id, device_id));
            CREATE TABLE IF NOT EXISTS round_shares(
                round_id TEXT NOT NULL, replica TEXT NOT NULL, updates INTEGER NOT NULL, share BLOB NOT NULL, PRIMARY KEY(round_id, replica));
            """),
        Migration.Sql(2, "replicas connected to the broker, as each last said so", """
            CREATE TABLE IF NOT EXISTS replica_presence(replica TEXT PRIMARY KEY, seen_ms INTEGER NOT NULL);
            """),
    ];

    private readonly SqlDatabase _db = Migrated(database);

    /// <summary>Opens a round for every replica (and forgets rounds older than <see cref="Retention"/>).</summary>
    public void Open(SharedRound round, DateTimeOffset now) => _db.Run(s => s.InTransaction(() =>
    {
        var old = (now - Retention).ToUnixTimeMilliseconds();
        s.Execute("DELETE FROM round_claims WHERE round_id IN (SELECT round_id FROM shared_rounds WHERE opened_ms < @old)", ("@old", old));
        s.Execute("DELETE FROM round_shares WHERE round_id IN (SELECT round_id FROM shared_rounds WHERE opened_ms < @old OR closed = 1)", ("@old", old));
        s.Execute("DELETE FROM shared_rounds WHERE opened_ms < @old", ("@old", old));
        s.Execute(
            """
            INSERT INTO shared_rounds(round_id, model, base_version, round_number, selected, eligible, target, select_count, seed, deadline_ms, opened_ms, closed)
            VALUES (@r, @m, @b, @n, @s, @e, @t, @c, @seed, @d, @now, 0)
            ON CONFLICT(round_id) DO NOTHING
            """,
            ("@r", round.RoundId), ("@m", round.Model), ("@b", (long)round.BaseVersion), ("@n", round.RoundNumber), ("@s", string.Join('\n', round.Selected)),
            ("@e", round.Eligible), ("@t", round.Target), ("@c", round.SelectCount), ("@seed", unchecked((long)round.Seed)),
            ("@d", round.Deadline.ToUnixTimeMilliseconds()), ("@now", now.ToUnixTimeMilliseconds()));
    }));

    /// <summary>The round if it is open; null when it is closed or was never opened.</summary>
    public SharedRound? FindOpen(string roundId)
    {
        var rows = _db.Run(s => s.Query(
            "SELECT model, base_version, round_number, selected, eligible, target, select_count, seed, deadline_ms FROM shared_rounds WHERE round_id = @r AND closed = 0",
            r => new SharedRound(roundId, r.GetString(0), (ulong)r.GetInt64(1), r.GetInt64(2), r.GetString(3).Split('\n', StringSplitOptions.RemoveEmptyEntries),
                (int)r.GetInt64(4), (int)r.GetInt64(5), (int)r.GetInt64(6), unchecked((ulong)r.GetInt64(7)), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(8))),
            ("@r", roundId)));
        return rows.Count > 0 ? rows[0] : null;
    }

    /// <summary>
    /// Claims <paramref name="deviceId"/>'s one contribution to an open round: <see cref="ClaimOutcome.Claimed"/> once per
    /// device and round across every replica (and again for the same <paramref name="claim"/>, when a retry follows a lost
    /// acknowledgement), <see cref="ClaimOutcome.ClaimedElsewhere"/> for any other claim, <see cref="ClaimOutcome.RoundClosed"/>
    /// when no claim could be made because the round is closed or was never opened.
    /// </summary>
    public ClaimOutcome Claim(string roundId, string deviceId, string claim) => _db.Run(s =>
    {
        s.Execute(
            """
            INSERT INTO round_claims(round_id, device_id, claim)
            SELECT @r, @d, @c WHERE EXISTS (SELECT 1 FROM shared_rounds WHERE round_id = @r AND closed = 0)
            ON CONFLICT(round_id, device_id) DO NOTHING
            """,
            ("@r", roundId), ("@d", deviceId), ("@c", claim));
        return s.Scalar("SELECT claim FROM round_claims WHERE round_id = @r AND device_id = @d", ("@r", roundId), ("@d", deviceId)) switch
        {
            string held when held == claim => ClaimOutcome.Claimed,
            string => ClaimOutcome.ClaimedElsewhere,
            _ => ClaimOutcome.RoundClosed,
        };
    });

    /// <summary>The claims of one process in <paramref name="roundId"/>: a fresh claim id per device, so only a retry of the same call claims twice.</summary>
    public Func<string, ClaimOutcome> ClaimsFor(string roundId) => deviceId => Claim(roundId, deviceId, Guid.NewGuid().ToString("N"));

    /// <summary>Writes (replaces) a replica's share of an open round; false when the round is closed (the share came too late).</summary>
    public bool TryWrite(PartialAggregate share) => _db.Run(s => s.InTransaction(() =>
    {
        var lockRow = s.Engine == StoreEngine.PostgreSql ? " FOR SHARE" : string.Empty;
        var closed = s.Scalar("SELECT closed FROM shared_rounds WHERE round_id = @r" + lockRow, ("@r", share.RoundId));
        if (closed is null || Convert.ToInt64(closed, CultureInfo.InvariantCulture) != 0) return false;
        s.Execute(
            """
            INSERT INTO round_shares(round_id, replica, updates, share) VALUES (@r, @p, @u, @b)
            ON CONFLICT(round_id, replica) DO UPDATE SET updates = excluded.updates, share = excluded.share
            """,
            ("@r", share.RoundId), ("@p", share.Replica), ("@u", (long)share.Count), ("@b", share.ToByteArray()));
        return true;
    }));

    /// <summary>The devices whose update some process (a replica or the coordinator) claimed in the round so far.</summary>
    public IReadOnlySet<string> Claimed(string roundId) =>
        _db.Run(s => s.Query("SELECT device_id FROM round_claims WHERE round_id = @r", r => r.GetString(0), ("@r", roundId))).ToHashSet(StringComparer.Ordinal);

    /// <summary>Updates the replicas have written for the round so far (the coordinator's own are not in the store).</summary>
    public long SharedUpdates(string roundId) => _db.Run(s => s.Long("SELECT COALESCE(SUM(updates), 0) FROM round_shares WHERE round_id = @r", ("@r", roundId)));

    /// <summary>Replica <paramref name="replica"/> is connected to the broker, its share of the updates subscribed, at <paramref name="now"/>.</summary>
    public void Present(string replica, DateTimeOffset now) => _db.Run(s => s.Execute(
        "INSERT INTO replica_presence(replica, seen_ms) VALUES (@p, @now) ON CONFLICT(replica) DO UPDATE SET seen_ms = excluded.seen_ms",
        ("@p", replica), ("@now", now.ToUnixTimeMilliseconds())));

    /// <summary>The replicas that said they were connected at <paramref name="since"/> or later, by name.</summary>
    public IReadOnlyList<string> PresentSince(DateTimeOffset since) => _db.Run(s => s.Query(
        "SELECT replica FROM replica_presence WHERE seen_ms >= @since ORDER BY replica", r => r.GetString(0), ("@since", since.ToUnixTimeMilliseconds())));

    /// <summary>Closes the round to every replica and returns the shares written before the close.</summary>
    public IReadOnlyList<PartialAggregate> Close(string roundId)
    {
        _db.Run(s => s.Execute("UPDATE shared_rounds SET closed = 1 WHERE round_id = @r", ("@r", roundId)));
        return _db.Run(s => s.Query(
            "SELECT share FROM round_shares WHERE round_id = @r ORDER BY replica",
            r => PartialAggregate.Parser.ParseFrom((byte[])r.GetValue(0)),
            ("@r", roundId)));
    }

    public void Dispose() => _db.Dispose();

    private static SqlDatabase Migrated(SqlDatabase database)
    {
        database.Migrate("round-shares", Migrations);
        return database;
    }
}
