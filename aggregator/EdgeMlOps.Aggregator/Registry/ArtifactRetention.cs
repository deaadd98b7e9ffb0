using System.Globalization;
using System.Text.Json;
using EdgeMlOps.Aggregator.Governance;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>What one prune deleted: the versions whose artifacts went, the bytes freed, and the versions whose reference profiles went with them.</summary>
public sealed record PruneOutcome(IReadOnlyList<ulong> Versions, long BytesFreed)
{
    public IReadOnlyList<ulong> ProfilesDropped { get; init; } = [];
}

/// <summary>
/// Keeps the registry's artifacts from filling the disk (<c>Registry:KeepVersions</c>): every round makes a version,
/// and each version's files stayed for ever. After each new version the files of the versions nothing may still need
/// are deleted: not among the newest <see cref="RegistryOptions.KeepVersions"/>, not deployed or approved, not uploaded
/// or initial (a user's own bytes, or version 1), not named by any rollout (its version, or the one it replaced and
/// would roll back to). A file another kept version names stays. The rows stay — lineage, metrics, hashes, states —
/// marked pruned (<see cref="ModelVersionRecord.ArtifactsPrunedAt"/>), and each prune is audited. A pruned version's
/// reference profiles (drift and prediction references) are deleted with its files.
/// </summary>
public sealed partial class ArtifactRetention(AggregatorOptions options, ModelRegistry registry, ArtifactStore artifacts, AuditLog audit, TimeProvider time, ILogger logger)
{
    public const string Actor = "system:retention";

    /// <summary>Prunes what the policy lets go; null when it keeps everything (or there is nothing to prune).</summary>
    public PruneOutcome? Prune()
    {
        var keep = options.Registry.KeepVersions;
        if (keep == 0 || registry.Latest(options.ModelName) is not { } newest) return null;
        var needed = RolloutVersions();
        var kept = registry.KeptVersions(options.ModelName);
        var (prune, stay) = (new List<ModelVersionRecord>(), new List<ModelVersionRecord>());
        foreach (var v in kept)
        {
            var wanted = newest.Version - v.Version < (ulong)keep || v.Round == 0 || v.State is VersionStates.Deployed or VersionStates.Approved || needed.Contains(v.Version);
            (wanted ? stay : prune).Add(v);
        }

        if (prune.Count == 0) return null;
        var named = stay.SelectMany(Files).ToHashSet(StringComparer.Ordinal);
        var freed = prune.SelectMany(Files).Distinct(StringComparer.Ordinal).Where(sha => !named.Contains(sha)).Sum(artifacts.Delete);
        var versions = prune.Select(v => v.Version).ToArray();
        var at = time.GetUtcNow();
        registry.MarkPruned(options.ModelName, versions, at);
        var profiles = registry.DeletePrunedProfiles(options.ModelName);
        var reason = string.Create(CultureInfo.InvariantCulture,
            $"artifacts of {Describe(versions)} pruned, {freed:N0} bytes freed: not among the newest {keep} (Registry:KeepVersions), not deployed, approved, uploaded or named by a rollout{(profiles.Count > 0 ? $"; drift references of {Describe(profiles)} deleted" : string.Empty)}");
        audit.Append(at, Actor, "version.prune", $"model/{options.ModelName}", reason, null, null);
        LogPruned(logger, options.ModelName, reason);
        return new PruneOutcome(versions, freed) { ProfilesDropped = profiles };
    }

    /// <summary>Prunes, logging instead of throwing: a file the disk will not let go must not fail the round that made a version.</summary>
    public PruneOutcome? PruneQuietly()
    {
        try
        {
            return Prune();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Storage.StoreException)
        {
            LogPruneFailed(logger, options.ModelName, ex.Message);
            return null;
        }
    }

    private static IEnumerable<string> Files(ModelVersionRecord v) => v.TrainStepSha256.Length > 0 ? [v.InferenceSha256, v.TrainStepSha256] : [v.InferenceSha256];

    /// <summary>The versions rollouts name: each one's version and the version it replaced (a rollback's target).</summary>
    private HashSet<ulong> RolloutVersions() =>
        registry.Rollouts(options.ModelName).Select(json => JsonSerializer.Deserialize(json, Rollouts.RolloutJson.Default.RolloutRecord)!)
            .SelectMany(r => new[] { r.Request.Version, r.PreviousVersion }).ToHashSet();

    /// <summary><c>v3</c>, <c>v3–v6</c> or <c>12 versions (v3–v20)</c>.</summary>
    private static string Describe(IReadOnlyList<ulong> versions) => versions.Count switch
    {
        1 => $"v{versions[0]}",
        _ when versions[^1] - versions[0] + 1 == (ulong)versions.Count && versions.Count <= 4 => string.Join(", ", versions.Select(v => $"v{v}")),
        _ => $"{versions.Count} versions (v{versions[0]}–v{versions[^1]}{(versions[^1] - versions[0] + 1 == (ulong)versions.Count ? string.Empty : ", with gaps")})",
    };

    [LoggerMessage(EventId = 2080, Level = LogLevel.Information, Message = "Registry retention for {Model}: {Reason}")]
    private static partial void LogPruned(ILogger logger, string model, string reason);

    [LoggerMessage(EventId = 2081, Level = LogLevel.Warning, Message = "Registry retention for {Model} could not prune (the files stay; the next version tries again): {Error}")]
    private static partial void LogPruneFailed(ILogger logger, string model, string error);
}
