using Microsoft.Data.Sqlite;

namespace EdgeMlOps.Agent.Storage;

/// <summary>A write the device's storage refused (disk or store full, read-only, I/O error): said plainly to the caller.</summary>
public sealed class StorageUnavailableException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Whether the device's stores currently take writes. A refused write (full disk, the store's size cap, a
/// read-only or failing disk) marks the device degraded with the reason; the next write of the same kind that
/// succeeds clears it, so the device recovers by itself when space returns.
/// </summary>
public sealed class StorageHealth(string? readOnly = null)
{
    private const int IoError = 10; // SQLITE_IOERR
    private const int Full = 13; // SQLITE_FULL
    private const int ReadOnlyDatabase = 8; // SQLITE_READONLY
    // By kind of write: a write of one kind that succeeds (an empty prediction flush) says nothing about another.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _problems = new(StringComparer.Ordinal);
    private long _failures;

    /// <summary>Why the data directory takes no writes at all (the agent started on a read-only one), or null.</summary>
    public string? ReadOnly { get; } = readOnly;

    /// <summary>Why writes fail right now, or empty (from a consistent copy: sorting the live dictionary throws when a new kind arrives during the copy).</summary>
    public string Problem => string.Join("; ", _problems.ToArray().OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Value));

    /// <summary>Writes refused since start.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>True for the storage errors a device must survive (as opposed to bugs).</summary>
    public static bool IsStorageFailure(Exception ex) =>
        ex is SqliteException { SqliteErrorCode: Full or IoError or ReadOnlyDatabase } || (ex is IOException io && io.HResult is 28 /* ENOSPC */ or 30 /* EROFS */);

    /// <summary>Runs a write; a storage failure marks the device degraded and surfaces as <see cref="StorageUnavailableException"/>.</summary>
    /// <param name="what">The kind of write, named in the reason.</param>
    /// <param name="write">The write.</param>
    /// <param name="needsDisk">False for what may live in memory while the data directory is read-only (the outbox,
    /// the prediction log); ground truth and erasures must reach the disk and are refused then.</param>
    public T Write<T>(string what, Func<T> write, bool needsDisk = true)
    {
        if (needsDisk && ReadOnly is not null)
        {
            Interlocked.Increment(ref _failures);
            throw new StorageUnavailableException($"{what} refused: the {ReadOnly}", new IOException(ReadOnly));
        }

        try
        {
            var result = write();
            _problems.TryRemove(what, out _);
            return result;
        }
        catch (Exception ex) when (IsStorageFailure(ex))
        {
            Interlocked.Increment(ref _failures);
            var problem = $"{what} refused by storage: {ex.Message}";
            _problems[what] = problem;
            throw new StorageUnavailableException(problem, ex);
        }
    }

    public void Write(string what, Action write, bool needsDisk = true) => Write<bool>(what, () =>
    {
        write();
        return true;
    }, needsDisk);
}
