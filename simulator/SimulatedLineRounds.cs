using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Rounds;

namespace EdgeMlOps.Simulator;

/// <summary>One round of a model line as the simulator saw it.</summary>
public sealed record LineRoundResult(long Round, string Status, ulong Version, double Accuracy, int Participants, int Selected, long Rejected);

/// <summary>A model line's run: its first version's held-out accuracy and every round after it.</summary>
public sealed record LineResult(string Name, string Model, double InitialAccuracy, IReadOnlyList<LineRoundResult> Rounds)
{
    /// <summary>The line's updates each replica beside the coordinator took (none: not shared, or no replicas).</summary>
    public IReadOnlyDictionary<string, long> ReplicaUpdates { get; init; } = new Dictionary<string, long>();

    /// <summary>Replicas the line's coordinator found connected but starved of its updates (their broker rule missing).</summary>
    public IReadOnlyList<string> ReplicasStarved { get; init; } = [];

    public double FinalAccuracy => Rounds.Count > 0 ? Rounds[^1].Accuracy : InitialAccuracy;
}

/// <summary>
/// The rounds of a simulated fleet's model lines, each run beside the first model's round (the devices train both,
/// sharing their compute slots), and what each line's aggregator scored.
/// </summary>
internal sealed class SimulatedLineRounds(SimulatedFleet fleet, TextWriter? progress, bool quiet)
{
    private readonly Dictionary<string, (string Model, double Initial, List<LineRoundResult> Rounds)> _results = fleet.Lines.ToDictionary(
        l => l.Options.Line!, l => (l.Options.Model.ToString(), l.CurrentVersion.EvalAccuracy ?? double.NaN, new List<LineRoundResult>()), StringComparer.Ordinal);

    /// <summary>Starts a round on every line.</summary>
    public Task<RoundReport>[] Start(CancellationToken cancellationToken) => [.. fleet.Lines.Select(l => l.RunRoundAsync(cancellationToken))];

    /// <summary>Waits for the lines' rounds and for every device to install what they made, and records them.</summary>
    public async Task FinishAsync(Task<RoundReport>[] rounds, CancellationToken cancellationToken)
    {
        for (var i = 0; i < rounds.Length; i++)
        {
            var (line, report) = (fleet.Lines[i], await rounds[i].ConfigureAwait(false));
            var name = line.Options.Line!;
            if (report.NewVersion is { } version) await fleet.WaitForLineVersionAsync(name, version, TimeSpan.FromMinutes(5), cancellationToken).ConfigureAwait(false);
            var result = new LineRoundResult(report.Round, report.Status.ToString(), report.NewVersion ?? report.BaseVersion, line.CurrentVersion.EvalAccuracy ?? double.NaN, report.Contributors, report.Selected, report.Rejected);
            _results[name].Rounds.Add(result);
            if (!quiet) progress?.WriteLine($"  line {name}: {result.Status,-9} v{result.Version,-4} acc {result.Accuracy:F4}  participants {result.Participants}/{result.Selected}  rejected {result.Rejected}");
        }
    }

    /// <summary>Every line's run, in the configured order.</summary>
    public IReadOnlyList<LineResult> Results() =>
        [.. fleet.Lines.Select(l => l.Options.Line!).Select(name => new LineResult(name, _results[name].Model, _results[name].Initial, _results[name].Rounds))];
}
