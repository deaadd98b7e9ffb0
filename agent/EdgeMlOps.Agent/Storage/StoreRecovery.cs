using System.Globalization;
using Microsoft.Data.Sqlite;

namespace EdgeMlOps.Agent.Storage;

/// <summary>
/// Opens a device store, and when its file is unreadable (not a database, or corrupt) moves the file
/// and its WAL and SHM companions aside and starts a fresh one, so a damaged store never becomes a
/// crash loop and the installed model keeps being served. What was done is returned as a notice for
/// the agent's status and health; the kept file is there for a person to inspect.
/// </summary>
public static class StoreRecovery
{
    private const int NotADatabase = 26; // SQLITE_NOTADB
    private const int Corrupt = 11; // SQLITE_CORRUPT

    public static (T Store, string? Notice) OpenOrQuarantine<T>(string path, Func<string, T> open, DateTimeOffset now)
    {
        try
        {
            return (open(path), null);
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode is NotADatabase or Corrupt)
        {
            SqliteConnection.ClearAllPools();
            var aside = path + ".corrupt-" + now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
            foreach (var suffix in new[] { string.Empty, "-wal", "-shm" })
            {
                if (File.Exists(path + suffix)) File.Move(path + suffix, aside + suffix, overwrite: true);
            }

            var store = open(path);
            return (store, $"{Path.GetFileName(path)} was unreadable (SQLite error {ex.SqliteErrorCode}: {ex.Message.Split('\'').ElementAtOrDefault(1) ?? ex.Message}); kept aside as {Path.GetFileName(aside)}, started empty");
        }
    }
}
