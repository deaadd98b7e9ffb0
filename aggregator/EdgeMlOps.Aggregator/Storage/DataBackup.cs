using EdgeMlOps.Runtime.Storage;
using Microsoft.Data.Sqlite;

namespace EdgeMlOps.Aggregator.Storage;

/// <summary>
/// A consistent copy of an aggregator's data directory, taken while it runs, that starts as it is
/// (<c>--Aggregator:DataDirectory=</c> the copy) or is copied back after a loss. SQLite stores go through SQLite's
/// online backup (a transaction-consistent snapshot each, never a half-written page); files keep their permissions
/// (keys and the CA key stay owner-only). The order makes the copy one the aggregator can open without a false
/// alarm: the audit head before the audit log (a head behind its log is caught up at start; one ahead would read as
/// entries cut off), the audit log before the registry (a registry state the log lacks is audited as recovered at
/// start), the registry before the artifacts (every registered version's files are in the copy). With PostgreSQL the
/// tables are the database's to back up (<c>pg_dump</c>); the files here are still copied.
/// </summary>
public static class DataBackup
{
    private static readonly string[] StoreOrder = ["audit.db", "registry.db", "security.db", "messages.db", "security.events.db"];

    /// <summary>Writes the copy into <paramref name="target"/> (which must not exist or be empty) and returns one line per item.</summary>
    public static IReadOnlyList<string> Write(string dataDirectory, StoreEngine engine, string target)
    {
        if (!Directory.Exists(dataDirectory)) throw new IOException($"no data directory at {Path.GetFullPath(dataDirectory)}");
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any()) throw new IOException($"{Path.GetFullPath(target)} is not empty; a backup goes into a new directory");
        CreateOwnerOnlyDirectory(target);
        var done = new List<string>();
        var head = Path.Combine(dataDirectory, "audit.db.head");
        if (File.Exists(head))
        {
            CopyFile(head, Path.Combine(target, "audit.db.head"));
            done.Add("audit.db.head: copied");
        }
        if (engine == StoreEngine.Sqlite)
        {
            foreach (var store in StoreOrder.Where(s => File.Exists(Path.Combine(dataDirectory, s))))
            {
                done.Add(BackUpStore(Path.Combine(dataDirectory, store), Path.Combine(target, store)));
            }
        }
        else
        {
            done.Add("tables: in PostgreSQL, not in this copy (back them up with pg_dump; docs/OPERATIONS.md, \"Backup and restore\")");
        }

        var (files, bytes) = (0, 0L);
        foreach (var file in Directory.EnumerateFiles(dataDirectory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var relative = Path.GetRelativePath(dataDirectory, file);
            if (IsStoreOrScratch(relative)) continue;
            var destination = Path.Combine(target, relative);
            CreateOwnerOnlyDirectory(Path.GetDirectoryName(destination)!);
            CopyFile(file, destination);
            (files, bytes) = (files + 1, bytes + new FileInfo(destination).Length);
        }

        done.Add($"files (artifacts, keys, fleet CA): {files:N0}, {bytes:N0} bytes, permissions kept");
        return done;
    }

    /// <summary>Store files (backed up above), their journals, damaged files kept aside, and half-written temporaries.</summary>
    private static bool IsStoreOrScratch(string relative)
    {
        var name = Path.GetFileName(relative);
        return relative == "audit.db.head"
            || name.EndsWith(".db", StringComparison.Ordinal) || name.EndsWith("-wal", StringComparison.Ordinal) || name.EndsWith("-shm", StringComparison.Ordinal)
            || name.Contains(".corrupt-", StringComparison.Ordinal) || name.EndsWith(".tmp", StringComparison.Ordinal);
    }

    private static string BackUpStore(string source, string destination)
    {
        using (var from = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = source, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString()))
        using (var to = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = destination, Pooling = false }.ToString()))
        {
            from.Open();
            to.Open();
            from.BackupDatabase(to);
            DamagedSqliteFile.Check(to);
        }

        KeepMode(source, destination);
        return $"{Path.GetFileName(source)}: {new FileInfo(destination).Length:N0} bytes (online backup, checked)";
    }

    private static void CopyFile(string source, string destination)
    {
        File.Copy(source, destination);
        KeepMode(source, destination);
    }

    private static void KeepMode(string source, string destination)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(destination, File.GetUnixFileMode(source));
    }

    private static void CreateOwnerOnlyDirectory(string path)
    {
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(path);
        else Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}
