using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Shared.Federated;

/// <summary>
/// What the aggregator knows when it plans or closes a round: Target updates are waited for,
/// SelectCount devices asked (target × over-selection), out of EligibleCount online.
/// </summary>
public sealed record RoundContext(long RoundNumber, int EligibleCount, int Target, int SelectCount, ulong Seed);

/// <summary>Who trains this round and with what configuration.</summary>
public sealed record FitInstructions(IReadOnlyList<string> Selected, TrainConfig Config);

/// <summary>Per-round figures a strategy reports (ε spent, clip norm, …), kept with the round.</summary>
public sealed class StrategyNotes : Dictionary<string, double>
{
    public StrategyNotes()
        : base(StringComparer.Ordinal)
    {
    }
}

/// <summary>Sample-weighted result of a federated evaluation.</summary>
public sealed record EvaluationSummary(int Devices, long Samples, double Loss, double Accuracy);

/// <summary>
/// A federated learning strategy, in the spirit of Flower's: it decides who trains and with
/// what configuration, how each update counts (weight, clipping, refusal), how the updates of a
/// round combine, how the combined delta moves the global model, and how evaluation is set up and
/// combined. Cross-cutting features (differential privacy) wrap an inner strategy
/// (<see cref="StrategyDecorator"/>). Implementations are pure: no I/O, seeded randomness.
/// </summary>
public abstract class FederatedStrategy
{
    public abstract string Describe();

    /// <summary>Chooses <see cref="RoundContext.SelectCount"/> of <paramref name="eligible"/> and the train config they get.</summary>
    public abstract FitInstructions ConfigureFit(RoundContext context, IReadOnlyList<string> eligible, TrainConfig baseConfig);

    /// <summary>A combiner for one round (or one FedBuff buffer).</summary>
    public abstract IUpdateCombiner CreateCombiner(RoundContext context, ParameterLayout layout);

    /// <summary>Largest L2 norm of an update accepted at all (hostile or broken beyond doubt); null = no limit.</summary>
    public abstract double? MaxUpdateNorm { get; }

    /// <summary>How a validated update counts. <paramref name="staleness"/> is 0 in synchronous rounds.</summary>
    public abstract Contribution Weigh(string deviceId, ModelUpdate update, double norm, long staleness);

    /// <summary>
    /// The weight a fresh update of <paramref name="sampleCount"/> samples has in the round's sum (what <see cref="Weigh"/>
    /// gives it at staleness 0): what a share of several devices' updates must weigh (<see cref="Aggregation.ShareChecks"/>).
    /// </summary>
    public abstract double WeightOf(ulong sampleCount);

    /// <summary>The round's delta from its combiner (after noise, for DP).</summary>
    public abstract float[] Combine(RoundContext context, IUpdateCombiner combiner, StrategyNotes notes);

    /// <summary>Moves <paramref name="weights"/> by the combined delta (server optimizer).</summary>
    public abstract void Apply(Span<float> weights, ReadOnlySpan<float> delta);

    /// <summary>Null to go on, or why no further round may run (e.g. the privacy budget).</summary>
    public abstract string? StopReason(RoundContext next);

    /// <summary>Devices asked to evaluate, and the config they get (max samples).</summary>
    public abstract FitInstructions ConfigureEvaluate(RoundContext context, IReadOnlyList<string> eligible, TrainConfig baseConfig);

    public abstract EvaluationSummary AggregateEvaluate(IReadOnlyList<EvaluationResult> results);

    /// <summary>Server-side state (optimizer moments, accountant, clip) to survive a restart.</summary>
    public abstract IReadOnlyList<float[]> SaveState();

    public abstract bool RestoreState(IReadOnlyList<float[]> state, int length);

    /// <summary>Seeded choice of <paramref name="count"/> ids (partial Fisher–Yates), reproducible per round and across processes.</summary>
    public static IReadOnlyList<string> SampleSeeded(IReadOnlyList<string> eligible, int count, ulong seed, string purpose)
    {
        var ids = eligible.ToArray();
        count = Math.Min(count, ids.Length);

        // Not HashCode.Combine: it is randomised per process, which would make runs irreproducible.
        var random = new Random(StableHash.Seed(seed, purpose));
        for (var i = 0; i < count; i++)
        {
            var j = random.Next(i, ids.Length);
            (ids[i], ids[j]) = (ids[j], ids[i]);
        }

        return ids[..count];
    }
}

/// <summary>Forwards everything to an inner strategy; cross-cutting features override what they change.</summary>
public abstract class StrategyDecorator(FederatedStrategy inner) : FederatedStrategy
{
    protected FederatedStrategy Inner { get; } = inner;

    public override string Describe() => Inner.Describe();

    public override FitInstructions ConfigureFit(RoundContext context, IReadOnlyList<string> eligible, TrainConfig baseConfig) =>
        Inner.ConfigureFit(context, eligible, baseConfig);

    public override IUpdateCombiner CreateCombiner(RoundContext context, ParameterLayout layout) => Inner.CreateCombiner(context, layout);

    public override double? MaxUpdateNorm => Inner.MaxUpdateNorm;

    public override Contribution Weigh(string deviceId, ModelUpdate update, double norm, long staleness) => Inner.Weigh(deviceId, update, norm, staleness);

    public override double WeightOf(ulong sampleCount) => Inner.WeightOf(sampleCount);

    public override float[] Combine(RoundContext context, IUpdateCombiner combiner, StrategyNotes notes) => Inner.Combine(context, combiner, notes);

    public override void Apply(Span<float> weights, ReadOnlySpan<float> delta) => Inner.Apply(weights, delta);

    public override string? StopReason(RoundContext next) => Inner.StopReason(next);

    public override FitInstructions ConfigureEvaluate(RoundContext context, IReadOnlyList<string> eligible, TrainConfig baseConfig) =>
        Inner.ConfigureEvaluate(context, eligible, baseConfig);

    public override EvaluationSummary AggregateEvaluate(IReadOnlyList<EvaluationResult> results) => Inner.AggregateEvaluate(results);

    public override IReadOnlyList<float[]> SaveState() => Inner.SaveState();

    public override bool RestoreState(IReadOnlyList<float[]> state, int length) => Inner.RestoreState(state, length);
}
