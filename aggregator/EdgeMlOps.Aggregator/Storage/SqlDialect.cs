using System.Text.RegularExpressions;

namespace EdgeMlOps.Aggregator.Storage;

/// <summary>
/// Schema text for an engine. Migrations are written once with SQLite's storage classes; for PostgreSQL every
/// integer becomes <c>BIGINT</c> (SQLite's integers are 64-bit), <c>REAL</c> a double, <c>BLOB</c> <c>BYTEA</c>,
/// an autoincrement key a <c>BIGSERIAL</c>, and SQLite-only table options go. Only DDL passes through here: queries
/// are written in the SQL both engines read.
/// </summary>
public static partial class SqlDialect
{
    public static string Schema(string ddl, StoreEngine engine)
    {
        if (engine == StoreEngine.Sqlite) return ddl;
        var text = AutoIncrementKey().Replace(ddl, "BIGSERIAL PRIMARY KEY");
        text = WithoutRowId().Replace(text, string.Empty);
        text = IntegerType().Replace(text, "BIGINT");
        text = RealType().Replace(text, "DOUBLE PRECISION");
        return BlobType().Replace(text, "BYTEA");
    }

    [GeneratedRegex(@"\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b", RegexOptions.IgnoreCase)]
    private static partial Regex AutoIncrementKey();

    [GeneratedRegex(@"\s*\bWITHOUT\s+ROWID\b", RegexOptions.IgnoreCase)]
    private static partial Regex WithoutRowId();

    [GeneratedRegex(@"\bINTEGER\b", RegexOptions.IgnoreCase)]
    private static partial Regex IntegerType();

    [GeneratedRegex(@"\bREAL\b", RegexOptions.IgnoreCase)]
    private static partial Regex RealType();

    [GeneratedRegex(@"\bBLOB\b", RegexOptions.IgnoreCase)]
    private static partial Regex BlobType();
}
