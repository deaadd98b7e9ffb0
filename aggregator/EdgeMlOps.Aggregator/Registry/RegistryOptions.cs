using EdgeMlOps.Shared.Configuration;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>What the registry keeps on disk (<c>Aggregator:Registry:*</c>; docs/OPERATIONS.md, "What the aggregator keeps").</summary>
public sealed class RegistryOptions
{
    /// <summary>The default <see cref="KeepVersions"/>.</summary>
    public const int DefaultKeepVersions = 100;

    /// <summary>
    /// The artifacts of the newest this many versions are kept, and those of every version something may still need
    /// (deployed, approved, uploaded or initial, named by a rollout); older versions' files are pruned, their registry
    /// rows kept (<see cref="ArtifactRetention"/>). 0 keeps every version's artifacts.
    /// </summary>
    public int KeepVersions { get; init; } = DefaultKeepVersions;

    public IEnumerable<(string Key, string Problem)> Problems()
    {
        if (KeepVersions < 0) yield return ("Registry:KeepVersions", $"must be 0 (keep every version's artifacts) or a count of versions, not {KeepVersions}");
    }

    public static RegistryOptions Read(ConfigReader r) => new() { KeepVersions = r.Int("Registry:KeepVersions", DefaultKeepVersions, 0) };
}
