namespace EdgeMlOps.Aggregator.Storage;

/// <summary>
/// One step of a store's schema, numbered from 1. Applied once per database, in order, in a transaction with its
/// record in <c>schema_migrations</c>; never edited after release — a change is a new migration.
/// </summary>
public sealed record Migration(int Version, string Description, Action<SqlSession> Apply)
{
    /// <summary>A migration that runs schema text (SQLite types; see <see cref="SqlDialect"/>).</summary>
    public static Migration Sql(int version, string description, string ddl) =>
        new(version, description, session => session.Execute(SqlDialect.Schema(ddl, session.Engine)));
}
