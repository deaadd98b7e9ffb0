using EdgeMlOps.Aggregator.Registry;

namespace EdgeMlOps.Aggregator.Governance;

/// <summary>
/// Brings the registry and the audit log back into agreement after the aggregator stopped in the middle of committing
/// a version (<c>kill -9</c>, power cut). They are two stores written one after the other — the registry first, the
/// audit entry after — so a stop between them leaves a version, or a state, the audit log never saw; and auto mode
/// moves a new version through approved and deployed and archives the replaced one in separate steps. At start-up,
/// before anything else writes: every registry state the audit log lacks is audited as recovered, and in auto mode
/// an interrupted commit is finished so exactly one version is deployed.
/// </summary>
public static class InterruptedCommits
{
    public const string Actor = "system:recovery";

    /// <summary>Repairs what it finds for <paramref name="model"/> and returns one line per repair.</summary>
    public static IReadOnlyList<string> Complete(ModelRegistry registry, ModelGovernance governance, string model, TimeProvider time)
    {
        var notices = new List<string>();
        var audited = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in governance.Audit.Entries($"model/{model}/v"))
        {
            if (entry.After is { } state) audited[entry.Subject] = state;
        }

        var versions = registry.Versions(model);
        foreach (var version in versions)
        {
            var subject = ModelGovernance.Subject(version);
            var known = audited.GetValueOrDefault(subject);
            if (known == version.State) continue;
            governance.Audit.Append(time.GetUtcNow(), Actor, known is null ? "version.create" : "version." + version.State, subject,
                $"recorded at start-up: the registry holds {version.State} ({version.StateReason ?? "no reason recorded"}), the audit log {known ?? "nothing"}; the aggregator stopped between the two",
                known, version.State);
            notices.Add($"{model} v{version.Version}: audited {version.State} (the audit log had {known ?? "no entry"})");
        }

        if (governance.Options.Mode == DeploymentMode.Auto && versions.Count > 0) notices.AddRange(FinishAutoDeployment(registry, governance, model));
        return notices;
    }

    /// <summary>Auto mode deploys every new version and archives the one it replaces: finish what a stop cut short.</summary>
    private static List<string> FinishAutoDeployment(ModelRegistry registry, ModelGovernance governance, string model)
    {
        const string Reason = "auto mode: finished at start-up after an interrupted commit";
        var notices = new List<string>();
        var versions = registry.Versions(model);
        var record = versions[^1];
        if (record.State == VersionStates.Candidate) record = governance.Move(record, VersionStates.Approved, "system:auto", Reason);
        if (record.State == VersionStates.Approved)
        {
            record = governance.Move(record, VersionStates.Deployed, "system:auto", Reason);
            notices.Add($"{model} v{record.Version}: deployed (auto mode)");
        }

        if (record.State != VersionStates.Deployed) return notices;
        foreach (var older in versions.Where(v => v.State == VersionStates.Deployed && v.Version < record.Version))
        {
            governance.Move(older, VersionStates.Archived, "system:auto", $"replaced by v{record.Version}; {Reason}");
            notices.Add($"{model} v{older.Version}: archived (replaced by v{record.Version})");
        }

        return notices;
    }
}
