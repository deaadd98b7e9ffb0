namespace EdgeMlOps.Aggregator.Storage;

/// <summary>The database engines the aggregator's tables can live in.</summary>
public enum StoreEngine
{
    /// <summary>One SQLite file per store under the data directory: the single-process default, nothing to run.</summary>
    Sqlite,

    /// <summary>One PostgreSQL database for every store: what replicas share and operators back up.</summary>
    PostgreSql,
}
