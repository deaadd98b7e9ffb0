namespace EdgeMlOps.Aggregator.Explanations;

/// <summary>One input's permutation importance on the held-out rows: mean accuracy lost when it is shuffled, and the spread over repeats.</summary>
public sealed record InputImportance(int Input, double Mean, double StdDev);

/// <summary>Partial dependence of one input: mean probability per class ([grid point][class]) and the class that moves most.</summary>
public sealed record DependenceCurve(int Input, int PlottedClass, float[] Grid, double[][] Average);

/// <summary>
/// What a version relies on, measured on the aggregator's held-out data and stored with the version (so a card, a gate
/// or a comparison reads the same numbers): permutation importance of every input and partial dependence of the most
/// important ones on a seeded subsample; metrics per subpopulation (cohorts and declared attributes) on all held-out rows.
/// </summary>
public sealed record VersionExplanation(
    string Model,
    ulong Version,
    int Rows,
    int HeldOutRows,
    int Repeats,
    int Seed,
    double BaselineAccuracy,
    IReadOnlyList<InputImportance> Importance,
    IReadOnlyList<DependenceCurve> Dependence,
    IReadOnlyList<EdgeMlOps.Shared.Explanations.GroupMetrics> Subgroups,
    IReadOnlyList<EdgeMlOps.Shared.Explanations.GroupGap> Gaps,
    DateTimeOffset CreatedAt)
{
    /// <summary>The <paramref name="count"/> most important inputs, most important first (ties: lower index first).</summary>
    public IReadOnlyList<InputImportance> Top(int count) => Importance.OrderByDescending(i => i.Mean).ThenBy(i => i.Input).Take(count).ToArray();
}

/// <summary>A version's explanations as the admin API returns them: on held-out data and measured on devices (either may be null).</summary>
public sealed record ExplanationsView(VersionExplanation? HeldOut, Evaluation.FederatedImportance? Federated);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase,
    NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals, PropertyNameCaseInsensitive = true)]
[System.Text.Json.Serialization.JsonSerializable(typeof(VersionExplanation))]
[System.Text.Json.Serialization.JsonSerializable(typeof(ExplanationsView))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Http.EvaluationRequest))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Evaluation.FederatedEvaluationReport))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Evaluation.FederatedImportance))]
internal sealed partial class ExplanationJson : System.Text.Json.Serialization.JsonSerializerContext;
