namespace EdgeMlOps.Aggregator.Rounds;

/// <summary>
/// How many reports a synchronous round waits for (<see cref="Target"/>), how many it needs to produce a version
/// (<see cref="Quorum"/>) and how many devices it asks (<see cref="SelectCount"/>, over-selected), for a number of
/// eligible devices. Pure: the whole arithmetic of round sizing, tested on its own.
/// </summary>
public readonly record struct RoundPlan(int Target, int Quorum, int SelectCount)
{
    public static RoundPlan For(RoundOptions rounds, int eligible)
    {
        var target = rounds.ClientsPerRound > 0
            ? Math.Min(rounds.ClientsPerRound, eligible)
            : Math.Max(1, (int)Math.Ceiling(rounds.Fraction * eligible));
        var quorum = Math.Max(1, (int)Math.Ceiling(rounds.MinQuorum * target));
        return new RoundPlan(target, quorum, Math.Min(eligible, (int)Math.Ceiling(target * rounds.OverSelection)));
    }

    /// <summary>Why a round cannot start with <paramref name="eligible"/> devices (too few for the minimum or the quorum), or null.</summary>
    public int? Shortfall(RoundOptions rounds, int eligible) =>
        eligible < rounds.MinDevices || eligible < Quorum ? Math.Max(rounds.MinDevices, Quorum) : null;
}
