using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Security;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator;

/// <summary>
/// Everything the aggregator keeps on disk under <see cref="AggregatorOptions.DataDirectory"/>, opened together when
/// the aggregator is composed (so no service ever sees a store that is not there yet) and closed together.
/// </summary>
public sealed class FleetStores : IDisposable
{
    public FleetStores(AggregatorOptions options, TimeProvider time, ILoggerFactory loggers)
    {
        Directory.CreateDirectory(options.DataDirectory);
        Registry = new ModelRegistry(Path.Combine(options.DataDirectory, "registry.db"));
        Seen = new Fleet.SeenMessages(Path.Combine(options.DataDirectory, "messages.db"), time);
        Artifacts = new ArtifactStore(Path.Combine(options.DataDirectory, "artifacts"));
        Security = new FleetSecurity(options.DataDirectory, options.Fleet, options.Security, time, loggers.CreateLogger<FleetSecurity>(),
            DevicePublishLimits.For(options.Model, options.Monitoring.MaxProfileBytes));
        Keys = new Trust.KeyRing(Path.Combine(options.DataDirectory, "keys"), options.Fleet, options.Trust, time.GetUtcNow());
        Audit = new AuditLog(Path.Combine(options.DataDirectory, "audit.db"));
        Governance = new ModelGovernance(Registry, Audit, options.Governance, time);
    }

    /// <summary>Models, versions and their states, rounds, rollouts, reference profiles, strategy state.</summary>
    public ModelRegistry Registry { get; }

    /// <summary>Message ids already processed, per device, across restarts.</summary>
    public Fleet.SeenMessages Seen { get; }

    /// <summary>Artifacts by sha256.</summary>
    public ArtifactStore Artifacts { get; }

    /// <summary>Device CA, enrollment, broker guard and security events.</summary>
    public FleetSecurity Security { get; }

    /// <summary>Root and signing keys; the root public key is what devices pin.</summary>
    public Trust.KeyRing Keys { get; }

    /// <summary>The hash-chained record of every governance action.</summary>
    public AuditLog Audit { get; }

    /// <summary>Version states and the rules for moving between them.</summary>
    public ModelGovernance Governance { get; }

    public void Dispose()
    {
        Registry.Dispose();
        Seen.Dispose();
        Audit.Dispose();
        Keys.Dispose();
        Security.Dispose();
    }
}
