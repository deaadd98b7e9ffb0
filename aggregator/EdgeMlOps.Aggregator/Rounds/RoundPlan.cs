namespace EdgeMlOps.Aggregator.Rounds;

/// <summary>
/// How many reports a synchronous round waits for (<see cref="Target"/>), how many it needs to produce a version
/// (<see cref="Quorum"/>) and how many devices it asks (<see cref="SelectCount"/>, over-selected), for a number of
/// eligible devices. Pure: the whole arithmetic of round sizing, tested on its own.
/// </summary>
public readonly record struct RoundPlan(int Target, int Quorum, int SelectCount)
{
    /// <param name="rounds">The round settings.</param>
    /// <param name="eligible">Devices eligible now.</param>
    /// <param name="turnout">Observed turnout; used when <see cref="RoundOptions.AdaptiveOverSelection"/> is on.</param>
    public static RoundPlan For(RoundOptions rounds, int eligible, RoundTurnout? turnout = null)
    {
        var target = rounds.ClientsPerRound > 0
            ? Math.Min(rounds.ClientsPerRound, eligible)
            : Math.Max(1, (int)Math.Ceiling(rounds.Fraction * eligible));
        var quorum = Math.Max(1, (int)Math.Ceiling(rounds.MinQuorum * target));
        var select = rounds.AdaptiveOverSelection && turnout is not null
            ? turnout.SelectCount(target, eligible, rounds.TargetConfidence, rounds.MaxOverSelection)
            : Math.Min(eligible, (int)Math.Ceiling(target * rounds.OverSelection));
        return new RoundPlan(target, quorum, select);
    }

    /// <summary>Why a round cannot start with <paramref name="eligible"/> devices (too few for the minimum or the quorum), or null.</summary>
    public int? Shortfall(RoundOptions rounds, int eligible) =>
        eligible < rounds.MinDevices || eligible < Quorum ? Math.Max(rounds.MinDevices, Quorum) : null;
}
