namespace EdgeMlOps.Aggregator;

/// <summary>How rounds select devices, wait and train. Section <c>Aggregator:Rounds</c>.</summary>
public sealed record RoundOptions
{
    /// <summary>Share C of eligible devices that should report per round (McMahan et al.: 0.1).</summary>
    public double Fraction { get; init; } = 0.1;

    /// <summary>If positive, a fixed number of reports per round instead of <see cref="Fraction"/>.</summary>
    public int ClientsPerRound { get; init; }

    /// <summary>Devices needed online before a round starts.</summary>
    public int MinDevices { get; init; } = 1;

    /// <summary>Select this many times the target, so dropouts do not starve the round (Bonawitz et al.: ~1.3).</summary>
    public double OverSelection { get; init; } = 1.3;

    /// <summary>
    /// Size the selection from observed turnout instead of the fixed <see cref="OverSelection"/>: the fewest devices so
    /// that the target reports with <see cref="TargetConfidence"/>, given the share of selected devices that reported
    /// by the deadline in recent rounds (<see cref="Rounds.RoundTurnout"/>; the fixed factor is its prior). Off by
    /// default: the selection then depends on timing, and reproducible runs want the same selection every time.
    /// </summary>
    public bool AdaptiveOverSelection { get; init; }

    /// <summary>Adaptive over-selection never selects more than this many times the target.</summary>
    public double MaxOverSelection { get; init; } = 3.0;

    /// <summary>Adaptive over-selection: the probability with which the target should report.</summary>
    public double TargetConfidence { get; init; } = 0.95;

    /// <summary>Share of the target that must report by the deadline, or the round is abandoned.</summary>
    public double MinQuorum { get; init; } = 0.5;

    public TimeSpan ReportDeadline { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Pace steering: a round's selected devices start at times spread evenly over this window from the round's start
    /// (each task names its device's slot), so updates arrive spread out rather than at once; zero starts them all at
    /// once. At most half the report deadline, leaving every device the other half to train and report.
    /// </summary>
    public TimeSpan CheckInWindow { get; init; } = TimeSpan.Zero;

    public int LocalEpochs { get; init; } = 5;

    public int BatchSize { get; init; } = 10;

    public float LearningRate { get; init; } = 0.05f;

    /// <summary>0 trains on every local sample.</summary>
    public int MaxSamplesPerDevice { get; init; }

    /// <summary>The host's loop stops after this many rounds (0 = run forever).</summary>
    public int MaxRounds { get; init; }

    /// <summary>Pause between rounds in the host's loop.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Synchronous rounds, or buffered asynchronous aggregation (FedBuff).</summary>
    public RoundMode Mode { get; init; } = RoundMode.Synchronous;

    /// <summary>FedBuff: a new version every this many accepted updates (K).</summary>
    public int BufferSize { get; init; } = 10;

    /// <summary>FedBuff: devices training at once.</summary>
    public int Concurrency { get; init; } = 20;

    /// <summary>FedBuff: updates more than this many versions behind are refused.</summary>
    public int StalenessCap { get; init; } = 10;

    /// <summary>
    /// Every problem with these settings, by key under <c>Aggregator:</c> — the one statement of their ranges, whether the
    /// options came from configuration or were built in code (the node validates them either way).
    /// </summary>
    public IEnumerable<(string Key, string Problem)> Problems()
    {
        if (!(Fraction is >= 0 and <= 1)) yield return ("Rounds:Fraction", Invariant($"{Fraction} is not in [0, 1]"));
        if (Fraction == 0 && ClientsPerRound == 0) yield return ("Rounds:Fraction", "must be positive unless Rounds:ClientsPerRound is set");
        if (ClientsPerRound < 0) yield return ("Rounds:ClientsPerRound", Invariant($"{ClientsPerRound} is negative"));
        if (MinDevices < 1) yield return ("Rounds:MinDevices", Invariant($"{MinDevices} is below 1"));
        if (!(OverSelection is >= 1 and <= 10)) yield return ("Rounds:OverSelection", Invariant($"{OverSelection} is not in [1, 10]"));
        if (!(MaxOverSelection is >= 1 and <= 10)) yield return ("Rounds:MaxOverSelection", Invariant($"{MaxOverSelection} is not in [1, 10]"));
        if (!(TargetConfidence is >= 0.5 and < 1)) yield return ("Rounds:TargetConfidence", Invariant($"{TargetConfidence} is not in [0.5, 1)"));
        if (!(MinQuorum is >= 0 and <= 1)) yield return ("Rounds:MinQuorum", Invariant($"{MinQuorum} is not in [0, 1]"));
        if (!(ReportDeadline.TotalSeconds is >= 0.1 and <= 86_400)) yield return ("Rounds:ReportDeadlineSeconds", Invariant($"{ReportDeadline.TotalSeconds} is not in [0.1, 86400]"));
        if (!(CheckInWindow >= TimeSpan.Zero && CheckInWindow <= ReportDeadline / 2)) yield return ("Rounds:CheckInWindowSeconds", Invariant($"{CheckInWindow.TotalSeconds} is not in [0, half of Rounds:ReportDeadlineSeconds ({ReportDeadline.TotalSeconds / 2})]"));
        if (LocalEpochs is < 1 or > 1000) yield return ("Rounds:LocalEpochs", Invariant($"{LocalEpochs} is not in [1, 1000]"));
        if (BatchSize is < 1 or > 100_000) yield return ("Rounds:BatchSize", Invariant($"{BatchSize} is not in [1, 100000]"));
        if (!(LearningRate is >= 1e-9f and <= 100)) yield return ("Rounds:LearningRate", Invariant($"{LearningRate} is not in [1e-9, 100]"));
        if (MaxSamplesPerDevice < 0) yield return ("Rounds:MaxSamplesPerDevice", Invariant($"{MaxSamplesPerDevice} is negative"));
        if (MaxRounds < 0) yield return ("Rounds:MaxRounds", Invariant($"{MaxRounds} is negative"));
        if (!(Interval.TotalSeconds is >= 0 and <= 86_400)) yield return ("Rounds:IntervalSeconds", Invariant($"{Interval.TotalSeconds} is not in [0, 86400]"));
        if (BufferSize < 1) yield return ("Rounds:BufferSize", Invariant($"{BufferSize} is below 1"));
        if (Concurrency < 1) yield return ("Rounds:Concurrency", Invariant($"{Concurrency} is below 1"));
        if (StalenessCap < 0) yield return ("Rounds:StalenessCap", Invariant($"{StalenessCap} is negative"));
    }

    private static string Invariant(FormattableString text) => FormattableString.Invariant(text);
}

public enum RoundMode
{
    Synchronous,
    /// <summary>FedBuff (Nguyen et al. 2022): devices train continuously; every K updates make a version.</summary>
    Buffered,
}
