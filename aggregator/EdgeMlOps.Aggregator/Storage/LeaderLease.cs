namespace EdgeMlOps.Aggregator.Storage;

/// <summary>A lease as held: by whom, with which fencing token (higher for every new holder), until when.</summary>
public sealed record HeldLease(string Name, string Holder, long Token, DateTimeOffset Expires)
{
    /// <summary>The lease table as a store that fences its writes with this lease names it (another store's: qualified).</summary>
    public string Table { get; init; } = "leases";

    /// <summary>
    /// Asserts, inside <paramref name="session"/>'s transaction, that this lease is still this holder's under this token —
    /// a write of the lease row, so a successor's take-over waits for the transaction or is seen by it — and throws
    /// <see cref="StoreException"/> naming <paramref name="what"/> when it is not.
    /// </summary>
    public void AssertHeld(SqlSession session, string what)
    {
        if (session.Execute($"UPDATE {Table} SET token = token WHERE name = @n AND holder = @h AND token = @t", ("@n", Name), ("@h", Holder), ("@t", Token)) == 0)
        {
            throw new StoreException($"fenced: {Holder} no longer holds the {Name} lease under token {Token}; {what} is not written");
        }
    }
}

/// <summary>
/// Leases in the shared store (<c>leases</c>): at most one holder per name at a time, each new holder with a higher
/// fencing token, so work a stale holder still attempts can be told apart from the current holder's. Expiry is
/// judged on the callers' clocks (keep them in sync, as any lease needs); a holder renews well inside the term.
/// </summary>
public sealed class LeaderLease(SqlDatabase database, TimeProvider time) : IDisposable
{
    /// <summary>The lease table, oldest first.</summary>
    public static readonly IReadOnlyList<Migration> Migrations =
    [
        Migration.Sql(1, "leases with fencing tokens", """
            CREATE TABLE IF NOT EXISTS leases(
                name TEXT PRIMARY KEY, holder TEXT NOT NULL, token INTEGER NOT NULL, expires_ms INTEGER NOT NULL);
            """),
    ];

    private readonly SqlDatabase _db = Migrated(database);

    /// <summary>Takes <paramref name="name"/> for <paramref name="holder"/> if it is free or expired; null when someone else holds it.</summary>
    public HeldLease? TryAcquire(string name, string holder, TimeSpan term)
    {
        var now = time.GetUtcNow();
        var expires = now + term;
        var token = _db.Run(s => s.Scalar(
            """
            INSERT INTO leases(name, holder, token, expires_ms) VALUES (@n, @h, 1, @e)
            ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, token = leases.token + 1, expires_ms = excluded.expires_ms
            WHERE leases.expires_ms <= @now
            RETURNING token
            """,
            ("@n", name), ("@h", holder), ("@e", expires.ToUnixTimeMilliseconds()), ("@now", now.ToUnixTimeMilliseconds())));
        if (token is not null) return new HeldLease(name, holder, Convert.ToInt64(token, System.Globalization.CultureInfo.InvariantCulture), expires);
        return Current(name) is { } current && current.Holder == holder ? current : null; // a retried attempt whose first try went through
    }

    /// <summary>Extends a lease still held under its token; null when it was lost (expired and taken, or released).</summary>
    public HeldLease? Renew(HeldLease lease, TimeSpan term)
    {
        var expires = time.GetUtcNow() + term;
        var renewed = _db.Run(s => s.Execute(
            "UPDATE leases SET expires_ms = @e WHERE name = @n AND holder = @h AND token = @t AND expires_ms > @now",
            ("@e", expires.ToUnixTimeMilliseconds()), ("@n", lease.Name), ("@h", lease.Holder), ("@t", lease.Token), ("@now", time.GetUtcNow().ToUnixTimeMilliseconds())));
        return renewed == 1 ? lease with { Expires = expires } : null;
    }

    /// <summary>Gives a held lease up at once (a clean stop), so a standby need not wait for it to expire.</summary>
    public void Release(HeldLease lease) =>
        _db.Run(s => s.Execute("UPDATE leases SET expires_ms = 0 WHERE name = @n AND holder = @h AND token = @t", ("@n", lease.Name), ("@h", lease.Holder), ("@t", lease.Token)));

    /// <summary>Who holds <paramref name="name"/> now, if anyone.</summary>
    public HeldLease? Current(string name)
    {
        var rows = _db.Run(s => s.Query(
            "SELECT holder, token, expires_ms FROM leases WHERE name = @n AND expires_ms > @now",
            r => new HeldLease(name, r.GetString(0), r.GetInt64(1), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2))),
            ("@n", name), ("@now", time.GetUtcNow().ToUnixTimeMilliseconds())));
        return rows.Count > 0 ? rows[0] : null;
    }

    public void Dispose() => _db.Dispose();

    private static SqlDatabase Migrated(SqlDatabase database)
    {
        database.Migrate("leases", Migrations);
        return database;
    }
}
