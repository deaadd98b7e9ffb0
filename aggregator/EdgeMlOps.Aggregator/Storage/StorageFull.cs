namespace EdgeMlOps.Aggregator.Storage;

/// <summary>Whether a failure is the aggregator's storage being full (the disk, a quota, or SQLite saying so): an operator's matter, not an internal error.</summary>
public static class StorageFull
{
    private const int NoSpaceLeft = 28; // ENOSPC
    private const int QuotaExceeded = 122; // EDQUOT
    private const int SqliteFull = 13; // SQLITE_FULL

    /// <summary>True when <paramref name="failure"/> or what it wraps says the storage is full.</summary>
    public static bool Is(Exception? failure)
    {
        for (; failure is not null; failure = failure.InnerException)
        {
            if (failure is IOException { HResult: NoSpaceLeft or QuotaExceeded }
                || failure is Microsoft.Data.Sqlite.SqliteException { SqliteErrorCode: SqliteFull }) return true;
        }

        return false;
    }
}
