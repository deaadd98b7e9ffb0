using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Aggregator.Storage;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator;

/// <summary>
/// Everything the aggregator keeps: its tables in the configured engine (<see cref="StoreOptions"/>: SQLite files
/// under <see cref="AggregatorOptions.DataDirectory"/>, or PostgreSQL), and artifacts, keys and the fleet CA in the
/// data directory — opened together when the aggregator is composed (so no service ever sees a store that is not
/// there yet) and closed together. A model line's stores (<see cref="AggregatorOptions.Line"/>) are its own, under its
/// own data directory, but the device CA and identities are the fleet's: passed in, used, never closed here.
/// </summary>
public sealed class FleetStores : IDisposable
{
    private readonly StoreDatabases _databases;
    private readonly List<StoreRepair> _repairs = [];
    private readonly bool _ownsSecurity;

    /// <param name="options">What to open, and where.</param>
    /// <param name="time">The clock stores read.</param>
    /// <param name="loggers">Where repairs are logged.</param>
    /// <param name="fleetSecurity">The fleet's device CA and identities, for a model line (which does not own them); null to open the data directory's own.</param>
    public FleetStores(AggregatorOptions options, TimeProvider time, ILoggerFactory loggers, FleetSecurity? fleetSecurity = null)
    {
        _ownsSecurity = fleetSecurity is null;
        Directory.CreateDirectory(options.DataDirectory);
        Runtime.Storage.AtomicFile.RemoveAbandoned(options.DataDirectory, EdgeMlOps.Aggregator.Registry.ArtifactStore.AbandonedAfter); // a head file's write a crash cut short
        _databases = new StoreDatabases(options.Store, options.DataDirectory, time);
        var opened = new List<IDisposable>();
        T Opened<T>(T store) where T : IDisposable
        {
            opened.Add(store);
            return store;
        }

        try
        {
            Registry = Opened(new ModelRegistry(_databases.Open("registry.db", durable: true)));
            Seen = Opened(new Fleet.SeenMessages(_databases.Open("messages.db", durable: false), time));
            Artifacts = new ArtifactStore(ArtifactStore.RootIn(options.DataDirectory));
            Security = fleetSecurity ?? Opened(new FleetSecurity(options.DataDirectory, options.Fleet, options.Security, time, loggers.CreateLogger<FleetSecurity>(),
                DevicePublishLimits.For(options.Model, options.Monitoring.MaxProfileBytes),
                Opened(new SecurityStore(_databases.Open("security.db", durable: true), _databases.Open("security.events.db", durable: false))), options.Edge));
            Keys = Opened(new Trust.KeyRing(Path.Combine(options.DataDirectory, "keys"), options.ProtocolFleet, options.Trust, time.GetUtcNow()));
            Issued = new Trust.StatementClock(Path.Combine(options.DataDirectory, "keys", "issued"), time);
            Shares = options.Replicas.Enabled ? Opened(new Replicas.RoundShares(_databases.Open("registry.db", durable: true))) : null;
            Audit = Opened(new AuditLog(_databases.Open("audit.db", durable: true), _databases.Engine == StoreEngine.Sqlite ? Path.Combine(options.DataDirectory, "audit.db.head") : null));
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or StoreException)
        {
            // Say which store and why, without a stack trace; close what was opened.
            foreach (var store in Enumerable.Reverse(opened)) store.Dispose();
            _databases.Dispose();
            throw ex as StoreException ?? new StoreException($"Aggregator:Store: cannot open the tables in {options.Store.Describe(options.DataDirectory)}: {ex.Message}", ex);
        }

        Governance = new ModelGovernance(Registry, Audit, options.Governance, time);
        Repair(options.ModelName, time, loggers.CreateLogger<FleetStores>());
    }

    /// <summary>
    /// What opening found and mended, before any service writes: damaged caches set aside (by <see cref="StoreDatabases"/>),
    /// the audit head caught up, interrupted commits completed — each logged as a warning and kept in <see cref="Repairs"/>.
    /// </summary>
    private void Repair(string model, TimeProvider time, ILogger logger)
    {
        void Record(string kind, string detail, string what)
        {
            logger.LogWarning("{What}: {Detail}", what, detail);
            _repairs.Add(new StoreRepair(kind, detail));
        }

        foreach (var notice in _databases.Notices) Record(StoreRepair.DamagedCache, notice, "Store damaged");
        if (Issued.Notice is { } clock) logger.LogWarning("Statement clock: {Notice}", clock);
        if (Audit.Recovered is { } recovered) Record(StoreRepair.AuditHead, recovered, "Audit log");
        foreach (var repair in InterruptedCommits.Complete(Registry, Governance, model, time)) Record(StoreRepair.InterruptedCommit, repair, "Interrupted commit completed");
    }

    /// <summary>What opening the stores repaired (damaged caches, the audit head, interrupted commits).</summary>
    public IReadOnlyList<StoreRepair> Repairs => _repairs;

    /// <summary>Models, versions and their states, rounds, rollouts, reference profiles, strategy state.</summary>
    public ModelRegistry Registry { get; }

    /// <summary>Message ids already processed, per device, across restarts.</summary>
    public Fleet.SeenMessages Seen { get; }

    /// <summary>The rounds aggregator replicas share (claims and shares), when replicas are on.</summary>
    public Replicas.RoundShares? Shares { get; }

    /// <summary>Artifacts by sha256.</summary>
    public ArtifactStore Artifacts { get; }

    /// <summary>Device CA, enrollment, broker guard and security events.</summary>
    public FleetSecurity Security { get; }

    /// <summary>Root and signing keys; the root public key is what devices pin.</summary>
    public Trust.KeyRing Keys { get; }

    /// <summary>Issue times of the statements devices and gateways order by date (revocations, catalogue, plans, freshness).</summary>
    public Trust.StatementClock Issued { get; }

    /// <summary>The hash-chained record of every governance action.</summary>
    public AuditLog Audit { get; }

    /// <summary>Version states and the rules for moving between them.</summary>
    public ModelGovernance Governance { get; }

    public void Dispose()
    {
        Registry.Dispose();
        Seen.Dispose();
        Shares?.Dispose();
        Audit.Dispose();
        Keys.Dispose();
        if (_ownsSecurity) Security.Dispose();
        _databases.Dispose();
    }
}
