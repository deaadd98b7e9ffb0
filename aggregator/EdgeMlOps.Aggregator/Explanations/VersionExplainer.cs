using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Explanations;

namespace EdgeMlOps.Aggregator.Explanations;

/// <summary>
/// Explains registered versions on the held-out data: computed once per version (on first use: a model card, the
/// explanation gate, the admin API), stored in the registry, read back from then on. Without held-out data there is
/// nothing to explain on and the answer is null.
/// </summary>
public sealed class VersionExplainer(ModelRegistry registry, ArtifactStore artifacts, EdgeMlOps.Shared.Models.ModelSpec spec, IModelEvaluator? evaluator, ExplanationOptions options, TimeProvider time)
{
    private const string HeldOutKind = "held-out";
    private const string FederatedKind = "federated";
    private readonly Lock _computing = new();

    public ExplanationOptions Options => options;

    /// <summary>The version's stored explanation, computing and storing it first if needed; null without held-out data, or when none was stored before its artifacts were pruned.</summary>
    public VersionExplanation? For(ModelVersionRecord version)
    {
        if (Stored(version) is { } stored) return stored;
        if (evaluator?.Rows is not { Count: > 0 } rows || version.ArtifactsPrunedAt is not null) return null;
        lock (_computing)
        {
            if (Stored(version) is { } raced) return raced;
            using var model = artifacts.LoadModel(artifacts.Read(version.InferenceSha256), spec);
            var answered = Answered(model, rows, spec.InputDim);
            if (answered.Count == 0) return null; // its front end refuses every held-out row: nothing to explain on
            var explanation = Compute(model, version, answered);
            registry.SetExplanation(version.Model, version.Version, HeldOutKind, System.Text.Json.JsonSerializer.Serialize(explanation, ExplanationJson.Default.VersionExplanation));
            return explanation;
        }
    }

    /// <summary>The stored explanation of a version, or null if none was computed yet.</summary>
    public VersionExplanation? Stored(ModelVersionRecord version) =>
        registry.Explanation(version.Model, version.Version, HeldOutKind) is { } json ? System.Text.Json.JsonSerializer.Deserialize(json, ExplanationJson.Default.VersionExplanation) : null;

    /// <summary>Keeps the newest permutation importance devices measured on their own rows for the version it was measured on.</summary>
    public void RecordFederated(string model, FederatedImportance importance) =>
        registry.SetExplanation(model, importance.Version, FederatedKind, System.Text.Json.JsonSerializer.Serialize(importance, ExplanationJson.Default.FederatedImportance));

    /// <summary>The newest federated permutation importance of a version, or null.</summary>
    public FederatedImportance? Federated(ModelVersionRecord version) =>
        registry.Explanation(version.Model, version.Version, FederatedKind) is { } json ? System.Text.Json.JsonSerializer.Deserialize(json, ExplanationJson.Default.FederatedImportance) : null;

    private VersionExplanation Compute(InferenceModel served, ModelVersionRecord version, LabelledRows rows)
    {
        var m = served.Spec.InputDim;
        var model = new AnsweredProbabilities(served); // a permuted row or a grid value its front end refuses is not answered
        var (features, labels) = Subsample(rows, m, options.Rows, options.Seed);
        var importance = PermutationImportance.Compute(model, features, labels, options.Repeats, options.Seed);
        var dependence = new List<DependenceCurve>();
        foreach (var top in importance.Top(options.DependenceInputs))
        {
            float[] grid;
            try
            {
                grid = PartialDependence.Grid(PartialDependence.Column(features, m, top.Feature), options.GridResolution);
            }
            catch (ArgumentException)
            {
                continue; // an input (nearly) constant on the held-out rows has no curve worth drawing
            }

            var curve = PartialDependence.Compute(model, features, labels.Length, top.Feature, grid);
            dependence.Add(new DependenceCurve(top.Feature, curve.MostAffectedClass(), curve.Grid, curve.Average));
        }

        var subgroups = SubgroupAnalysis.Compute(served.Predict(rows.Features, rows.Count).Probabilities, served.Spec.Classes, rows.Labels, rows.Groups);
        return new VersionExplanation(version.Model, version.Version, labels.Length, rows.Count, options.Repeats, options.Seed, importance.BaselineAccuracy,
            importance.Features.Select(f => new InputImportance(f.Feature, f.Mean, f.StdDev)).ToArray(), dependence,
            subgroups, SubgroupAnalysis.Gaps(subgroups, options.MinGroupSamples), time.GetUtcNow());
    }

    /// <summary>
    /// The held-out rows the version answers: all of them, but behind a front end whose counts the data decides, those
    /// it does not refuse (explained on what it answers, as it is scored).
    /// </summary>
    private static LabelledRows Answered(InferenceModel model, LabelledRows rows, int m)
    {
        var kept = model.RowsTaken(rows.Features, rows.Count);
        if (kept.Length == rows.Count) return rows;
        return new LabelledRows([.. kept.SelectMany(i => rows.Features.AsSpan(i * m, m).ToArray())], [.. kept.Select(i => rows.Labels[i])], [.. kept.Select(i => rows.Groups[i])]);
    }

    /// <summary>The same seeded subsample of the held-out rows for every version, so their explanations compare like for like.</summary>
    private static (float[] Features, long[] Labels) Subsample(LabelledRows rows, int m, int max, int seed)
    {
        if (rows.Count <= max) return (rows.Features, rows.Labels);
        var order = Enumerable.Range(0, rows.Count).ToArray();
        new Random(seed).Shuffle(order);
        var features = new float[max * m];
        var labels = new long[max];
        for (var i = 0; i < max; i++)
        {
            rows.Features.AsSpan(order[i] * m, m).CopyTo(features.AsSpan(i * m, m));
            labels[i] = rows.Labels[order[i]];
        }

        return (features, labels);
    }
}
