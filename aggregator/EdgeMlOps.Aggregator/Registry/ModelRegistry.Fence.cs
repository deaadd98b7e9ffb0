using EdgeMlOps.Aggregator.Storage;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>The registry's fence: the leader lease its new versions are written under.</summary>
public sealed partial class ModelRegistry
{
    /// <summary>
    /// The leader lease this process holds, when it runs as the leader of active/standby aggregators: every new
    /// version is then written only while that lease is still this holder's under this token, in the same
    /// transaction — a leader that stalled past its term and was replaced cannot add a version beside the new one.
    /// </summary>
    public HeldLease? Fence { get; set; }

    /// <summary>
    /// Fences this registry — a model line's, in a store of its own — with <paramref name="fleet"/>'s lease (none when the
    /// fleet holds none): a version is then written only while the fleet's leader still holds it, asserted in this
    /// registry's own transaction through the fleet's lease table (PostgreSQL: in the fleet's schema of the same database;
    /// SQLite: the fleet's file attached to this registry's connection as <c>fleet</c>).
    /// </summary>
    public void FenceWith(ModelRegistry fleet)
    {
        if (fleet.Fence is not { } fence)
        {
            Fence = null;
            return;
        }

        string table;
        if (_db.Engine == StoreEngine.PostgreSql)
        {
            table = fleet._db.Run(s => (string)s.Scalar("SELECT quote_ident(current_schema())")!) + ".leases";
        }
        else
        {
            var file = fleet._db.Run(s => (string)s.Scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")!);
            _db.Run(s =>
            {
                if (s.Long("SELECT COUNT(*) FROM pragma_database_list WHERE name = 'fleet'") == 0) s.Execute("ATTACH DATABASE @f AS fleet", ("@f", file));
            });
            table = "fleet.leases";
        }

        Fence = fence with { Table = table };
    }
}
