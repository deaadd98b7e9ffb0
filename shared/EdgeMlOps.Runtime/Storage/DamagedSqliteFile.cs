using System.Globalization;
using Microsoft.Data.Sqlite;

namespace EdgeMlOps.Runtime.Storage;

/// <summary>
/// What an unreadable SQLite file looks like and how it is kept aside: shared by the agent (which replaces a damaged
/// store and keeps serving) and the aggregator (which replaces a damaged cache and refuses to start on a damaged
/// record).
/// </summary>
public static class DamagedSqliteFile
{
    private const int NotADatabase = 26; // SQLITE_NOTADB
    private const int Corrupt = 11; // SQLITE_CORRUPT

    /// <summary>The file is not a database or its pages are corrupt (not: locked, read-only, full).</summary>
    public static bool IsDamage(SqliteException ex) => ex.SqliteErrorCode is NotADatabase or Corrupt;

    /// <summary>SQLite's reason without the statement it was running.</summary>
    public static string Reason(SqliteException ex) =>
        $"SQLite error {ex.SqliteErrorCode}: {ex.Message.Split('\'').ElementAtOrDefault(1) ?? ex.Message}";

    /// <summary>
    /// Reads every page's structure (<c>PRAGMA quick_check</c>, linear in the file's size) and throws SQLITE_CORRUPT
    /// with the first problem found: damage inside a file whose header is intact shows at open, not at the first
    /// query that happens to touch it.
    /// </summary>
    public static void Check(SqliteConnection connection)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "PRAGMA quick_check(1)";
        var result = cmd.ExecuteScalar() as string;
        if (!string.Equals(result, "ok", StringComparison.Ordinal))
        {
            throw new SqliteException($"SQLite Error {Corrupt}: 'database disk image is malformed: {result}'.", Corrupt);
        }
    }

    /// <summary>Moves the file and its WAL and SHM companions to <c>{path}.corrupt-{UTC}</c> for a person to inspect; returns that path.</summary>
    public static string SetAside(string path, DateTimeOffset now)
    {
        SqliteConnection.ClearAllPools();
        var aside = path + ".corrupt-" + now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        foreach (var suffix in new[] { string.Empty, "-wal", "-shm" })
        {
            if (File.Exists(path + suffix)) File.Move(path + suffix, aside + suffix, overwrite: true);
        }

        return aside;
    }
}
