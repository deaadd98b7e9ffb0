using EdgeMlOps.Aggregator.Governance;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>The tests' read-only admin identity (<see cref="Viewer"/>), for aggregators whose fleet readings a test reads over HTTP.</summary>
internal static class ViewerIdentity
{
    public static AdminIdentity Admin => new(Viewer.Name, AdminIdentity.HashToken(Viewer.Token), new HashSet<string> { AdminRoles.Viewer });
}
