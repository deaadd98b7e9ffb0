using System.Text.Json;
using EdgeMlOps.Aggregator.Registry;

namespace EdgeMlOps.Aggregator.Governance;

/// <summary>A governance rule said no (maps to 409 Conflict or 403 Forbidden in the admin API).</summary>
public sealed class GovernanceException(string message, bool forbidden = false) : Exception(message)
{
    public bool Forbidden { get; } = forbidden;
}

/// <summary>
/// Moves versions between registry states, enforcing the allowed transitions and the four-eyes
/// rule, and writes every change (who, what, when, why, before/after) to the audit log.
/// </summary>
public sealed class ModelGovernance(ModelRegistry registry, AuditLog audit, GovernanceOptions options, TimeProvider time)
{
    public GovernanceOptions Options => options;

    public AuditLog Audit => audit;

    /// <summary>The version devices are meant to serve (the latest deployed), or null if none yet.</summary>
    public ModelVersionRecord? Deployed(string model) => registry.LatestIn(model, VersionStates.Deployed);

    /// <summary>Records the validation outcome of a new version and moves it accordingly.</summary>
    public void RecordValidation(ModelVersionRecord version, ValidationOutcome outcome)
    {
        registry.SetEvaluation(version.Model, version.Version, JsonSerializer.Serialize(outcome.Cohorts, GovernanceJson.Default.IReadOnlyListCohortComparison));
        if (outcome.State != version.State)
        {
            Move(version, outcome.State, "system:validation", outcome.Reason);
            return;
        }

        // Held as a candidate (review required, or nothing to evaluate on): the reason says why.
        registry.SetState(version.Model, version.Version, version.State, outcome.Reason);
        audit.Append(time.GetUtcNow(), "system:validation", "validate", Subject(version), outcome.Reason, version.State, version.State);
    }

    /// <summary>Approves a validated version (or a candidate held for review). Never by its creator.</summary>
    public ModelVersionRecord Approve(string actor, string model, ulong version, string reason)
    {
        var record = Find(model, version);
        if (string.Equals(actor, record.CreatedBy, StringComparison.Ordinal))
        {
            throw new GovernanceException($"four eyes: {actor} created {model} v{version} and cannot approve it", forbidden: true);
        }

        if (record.State is not (VersionStates.Validated or VersionStates.Candidate))
        {
            throw new GovernanceException($"{model} v{version} is {record.State}; only validated versions, or candidates held for review, can be approved");
        }

        return Move(record, VersionStates.Approved, actor, reason);
    }

    public ModelVersionRecord Reject(string actor, string model, ulong version, string reason) =>
        Move(Find(model, version), VersionStates.Rejected, actor, reason);

    /// <summary>Any allowed transition (deploy, archive…), audited.</summary>
    public ModelVersionRecord Move(ModelVersionRecord record, string to, string actor, string reason)
    {
        if (!VersionStates.CanMove(record.State, to))
        {
            throw new GovernanceException($"{record.Model} v{record.Version} cannot go from {record.State} to {to}");
        }

        if (to is VersionStates.Approved or VersionStates.Deployed) RefusePruned(record, to == VersionStates.Approved ? "approved" : "deployed");
        registry.SetState(record.Model, record.Version, to, reason);
        audit.Append(time.GetUtcNow(), actor, "version." + to, Subject(record), reason, record.State, to);
        return record with { State = to, StateReason = reason };
    }

    /// <summary>Refuses what needs <paramref name="record"/>'s files once retention pruned them (<see cref="ArtifactRetention"/>).</summary>
    public static void RefusePruned(ModelVersionRecord record, string what)
    {
        if (record.ArtifactsPrunedAt is { } at)
        {
            throw new GovernanceException($"{record.Model} v{record.Version} cannot be {what}: its artifacts were pruned on {at:u} (Registry:KeepVersions keeps the newest versions and every deployed, approved, uploaded or rolled-out one); choose a kept version");
        }
    }

    public ModelVersionRecord Find(string model, ulong version) =>
        registry.Version(model, version) ?? throw new KeyNotFoundException($"no version {model} v{version}");

    public static string Subject(ModelVersionRecord record) => $"model/{record.Model}/v{record.Version}";
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(IReadOnlyList<CohortComparison>))]
internal sealed partial class GovernanceJson : System.Text.Json.Serialization.JsonSerializerContext;
