namespace EdgeMlOps.Aggregator.Registry;

/// <summary>
/// The registry's history — rounds, and versions a page at a time — read as a fleet that trains for months needs: what
/// an API call, a scrape or a card asks for costs a page or one row, never every round and version ever recorded.
/// </summary>
public sealed partial class ModelRegistry
{
    /// <summary>Every round, oldest first: for a short history (the store's contract tests); the API reads <see cref="RoundsPage"/>.</summary>
    public IReadOnlyList<RoundRecord> Rounds(string model) => Rounds(model, "ORDER BY round");

    /// <summary>The newest <paramref name="limit"/> rounds before round <paramref name="before"/> (null: the newest), oldest first.</summary>
    public IReadOnlyList<RoundRecord> RoundsPage(string model, int limit, long? before) =>
        [.. Rounds(model, "AND round < @before ORDER BY round DESC LIMIT @limit", ("@before", before ?? long.MaxValue), ("@limit", limit)).AsEnumerable().Reverse()];

    /// <summary>The newest <paramref name="limit"/> versions below <paramref name="before"/> (null: the newest), oldest first.</summary>
    public IReadOnlyList<ModelVersionRecord> VersionsPage(string model, int limit, ulong? before) =>
        [.. Versions(model, "AND v.version < @before ORDER BY v.version DESC LIMIT @limit", ("@before", before is { } b ? (long)Math.Min(b, long.MaxValue) : long.MaxValue), ("@limit", limit)).AsEnumerable().Reverse()];

    /// <summary>The round that made <paramref name="version"/>, or null (an upload, the initial version).</summary>
    public RoundRecord? RoundOf(string model, ulong version) =>
        Rounds(model, "AND new_version = @v ORDER BY round DESC LIMIT 1", ("@v", (long)version)).FirstOrDefault();

    /// <summary>The newest round with strategy notes (ε spent, clip norm, staleness), or null.</summary>
    public RoundRecord? LastRoundWithNotes(string model) =>
        Rounds(model, "AND notes IS NOT NULL ORDER BY round DESC LIMIT 1").FirstOrDefault();

    /// <summary>How many rounds ended in each status (as the API writes it), counted by the store.</summary>
    public IReadOnlyList<(string Status, long Count)> RoundCounts(string model) =>
        _db.Run(s => s.Query("SELECT status, COUNT(*) FROM rounds WHERE model = @m GROUP BY status ORDER BY status", r => (r.GetString(0), r.GetInt64(1)), ("@m", model)));

    private List<RoundRecord> Rounds(string model, string suffix, params (string Name, object? Value)[] parameters)
    {
        return _db.Run(s => s.Query(
            "SELECT model, round, round_id, base_version, status, selected, contributors, samples, rejected, new_version, started_ms, ended_ms, notes FROM rounds WHERE model = @m " + suffix,
            reader => new RoundRecord(
                reader.GetString(0), reader.GetInt64(1), reader.GetString(2), (ulong)reader.GetInt64(3), EdgeMlOps.Aggregator.Rounds.RoundStatusJsonConverter.Parse(reader.GetString(4)),
                (int)reader.GetInt64(5), (int)reader.GetInt64(6), reader.GetInt64(7), reader.GetInt64(8),
                reader.IsDBNull(9) ? null : (ulong)reader.GetInt64(9),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(10)), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(11)),
                NotesText.Read(reader.IsDBNull(12) ? null : reader.GetString(12))),
            [("@m", model), .. parameters]));
    }
}
