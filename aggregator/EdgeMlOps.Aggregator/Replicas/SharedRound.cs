using EdgeMlOps.Shared.Federated;

namespace EdgeMlOps.Aggregator.Replicas;

/// <summary>What a replica needs to take updates for a round the coordinator opened: which round, on what, from whom, until when.</summary>
public sealed record SharedRound(
    string RoundId, string Model, ulong BaseVersion, long RoundNumber, IReadOnlyList<string> Selected, int Eligible, int Target, int SelectCount, ulong Seed,
    DateTimeOffset Deadline)
{
    /// <summary>The round's context as the coordinator planned it (the strategy's combiner reads it).</summary>
    public RoundContext Context => new(RoundNumber, Eligible, Target, SelectCount, Seed);
}
