using EdgeMlOps.Runtime.Storage;
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
    public static (T Store, string? Notice) OpenOrQuarantine<T>(string path, Func<string, T> open, DateTimeOffset now)
    {
        try
        {
            return (open(path), null);
        }
        catch (SqliteException ex) when (DamagedSqliteFile.IsDamage(ex))
        {
            var aside = DamagedSqliteFile.SetAside(path, now);
            var store = open(path);
            return (store, $"{Path.GetFileName(path)} was unreadable ({DamagedSqliteFile.Reason(ex)}); kept aside as {Path.GetFileName(aside)}, started empty");
        }
    }
}
