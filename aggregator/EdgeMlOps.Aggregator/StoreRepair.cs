namespace EdgeMlOps.Aggregator;

/// <summary>
/// Something the aggregator repaired while opening its stores (<see cref="FleetStores.Repairs"/>), logged as a warning
/// and counted in <c>edgemlops_store_repairs</c>.
/// </summary>
/// <param name="Kind"><see cref="DamagedCache"/>, <see cref="AuditHead"/> or <see cref="InterruptedCommit"/>.</param>
/// <param name="Detail">What was found and done, as logged.</param>
public sealed record StoreRepair(string Kind, string Detail)
{
    /// <summary>A damaged cache file (message ids, security events) kept aside and started empty.</summary>
    public const string DamagedCache = "damaged_cache";

    /// <summary>The audit log's head file caught up after a stop between an entry and its head.</summary>
    public const string AuditHead = "audit_head";

    /// <summary>A registry state audited, or an auto-mode deployment finished, after a stop mid-commit.</summary>
    public const string InterruptedCommit = "interrupted_commit";

    public static readonly IReadOnlyList<string> Kinds = [DamagedCache, AuditHead, InterruptedCommit];
}
