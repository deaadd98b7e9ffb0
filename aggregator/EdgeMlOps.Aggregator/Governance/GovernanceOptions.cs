using System.Security.Cryptography;
using System.Text;
using EdgeMlOps.Shared.Configuration;

namespace EdgeMlOps.Aggregator.Governance;

public enum DeploymentMode
{
    /// <summary>
    /// Development and simulation: a version that passes the validation gates is approved by the
    /// policy identity and announced for serving to the whole fleet (still signed and verified).
    /// </summary>
    Auto,

    /// <summary>
    /// Production: new versions are announced for training only; devices serve what signed
    /// rollout plans give them, and only approved versions go past the canary stage.
    /// </summary>
    Governed,
}

/// <summary>Registry governance, validation gates and admin identities. Section <c>Aggregator:Governance</c> and <c>Aggregator:Admin</c>.</summary>
public sealed record GovernanceOptions
{
    public DeploymentMode Mode { get; init; } = DeploymentMode.Auto;

    /// <summary>A candidate whose accuracy in any cohort falls more than this below the live version's is rejected.</summary>
    public double MaxCohortRegression { get; init; } = 0.02;

    /// <summary>An overall accuracy change larger than this (either way) needs a person's review instead of automatic validation.</summary>
    public double ReviewChange { get; init; } = 0.10;

    /// <summary>Cohorts with fewer evaluation samples than this are reported but not gated.</summary>
    public int MinCohortSamples { get; init; } = 20;

    /// <summary>The identity recorded as creator of versions made by federated rounds (it can never approve them).</summary>
    public string TrainingIdentity { get; init; } = "system:federated";

    /// <summary>The model card's intended-use statement.</summary>
    public string IntendedUse { get; init; } = "On-device classification of the fleet's inputs, trained by federated learning on labelled data that stays on the devices. Not validated for uses outside the fleet's own input distribution.";

    /// <summary>How often the active rollout's gates are judged.</summary>
    public TimeSpan RolloutCheckInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Admin API identities with the sha256 of their bearer token and their roles.</summary>
    public IReadOnlyList<AdminIdentity> Identities { get; init; } = [];

    /// <summary>How versions are explained on the held-out data, and the explainability gate (<c>Governance:Explain:*</c>).</summary>
    public Explanations.ExplanationOptions Explain { get; init; } = new();

    internal static GovernanceOptions Read(ConfigReader r)
    {
        var modeText = r.String("Governance:Mode", "auto");
        r.Require(modeText is "auto" or "governed", "Governance:Mode", $"'{modeText}' is neither 'auto' nor 'governed'");
        var identities = new List<AdminIdentity>();
        foreach (var (identity, value) in r.Map("Admin:Tokens"))
        {
            // roles:token, e.g. "approver,operator:s3cret" (or roles:sha256=HEX to keep the token itself out of config).
            var colon = value.IndexOf(':', StringComparison.Ordinal);
            var roles = colon > 0 ? value[..colon].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
            var secret = colon > 0 ? value[(colon + 1)..] : string.Empty;
            var unknown = roles.Where(role => !AdminRoles.All.Contains(role)).ToArray();
            r.Require(roles.Length > 0 && unknown.Length == 0 && secret.Length >= 8, $"Admin:Tokens:{identity}",
                $"must be 'role[,role]:token' with roles from {string.Join(", ", AdminRoles.All)} and a token of at least 8 characters" + (unknown.Length > 0 ? $" (unknown: {string.Join(", ", unknown)})" : string.Empty));
            var sha = secret.StartsWith("sha256=", StringComparison.Ordinal) ? secret["sha256=".Length..] : AdminIdentity.HashToken(secret);
            identities.Add(new AdminIdentity(identity, sha, roles.ToHashSet(StringComparer.Ordinal)));
        }

        return new GovernanceOptions
        {
            Mode = modeText == "governed" ? DeploymentMode.Governed : DeploymentMode.Auto,
            MaxCohortRegression = r.Double("Governance:MaxCohortRegression", 0.02, 0, 1),
            ReviewChange = r.Double("Governance:ReviewChange", 0.10, 0, 1),
            MinCohortSamples = r.Int("Governance:MinCohortSamples", 20, 1, int.MaxValue),
            TrainingIdentity = r.String("Governance:TrainingIdentity", "system:federated"),
            Identities = identities,
            IntendedUse = r.String("Governance:IntendedUse", new GovernanceOptions().IntendedUse),
            RolloutCheckInterval = TimeSpan.FromSeconds(r.Double("Governance:RolloutCheckSeconds", 1, 0.05, 3600)),
            Explain = Explanations.ExplanationOptions.Read(r),
        };
    }
}

/// <summary>Roles of the admin API.</summary>
public static class AdminRoles
{
    /// <summary>Reads registry, rollouts, audit.</summary>
    public const string Viewer = "viewer";

    /// <summary>Creates and steers rollouts.</summary>
    public const string Operator = "operator";

    /// <summary>Approves and rejects versions (never one it created).</summary>
    public const string Approver = "approver";

    /// <summary>Registers versions trained elsewhere (the uploader is recorded as creator).</summary>
    public const string Scientist = "scientist";

    /// <summary>Rotates and revokes signing keys.</summary>
    public const string KeyAdmin = "keyadmin";

    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal) { Viewer, Operator, Approver, Scientist, KeyAdmin };
}

/// <summary>An admin identity: who, the sha256 (hex) of its bearer token, and what it may do.</summary>
public sealed record AdminIdentity(string Name, string TokenSha256, IReadOnlySet<string> Roles)
{
    public static string HashToken(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>Constant-time comparison of a presented token's hash with this identity's.</summary>
    public bool Matches(string presentedSha256) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(presentedSha256), Encoding.ASCII.GetBytes(TokenSha256));

    public bool Has(string role) => Roles.Contains(role) || (role == AdminRoles.Viewer && Roles.Count > 0);
}
