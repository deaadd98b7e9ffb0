using System.Globalization;
using EdgeMlOps.Aggregator.Tracking;
using EdgeMlOps.Shared.Tracking;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Simulator;

/// <summary>
/// <c>reproduce VERSION [--run ID] [--experiments DIR]</c>: re-creates a version from the record of the simulation that
/// made it — the same arguments (partition, seeds, strategy), as many rounds as it took — and compares every version of
/// the re-run with the record, tensor by tensor: bit-identical, or the first round and tensor that differ and why.
/// Exit code 0 when identical, 3 when not, 1 when there is nothing to reproduce.
/// </summary>
internal static class Reproduction
{
    public const int Differs = 3;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, ILoggerFactory loggers, TextWriter output, CancellationToken cancellationToken)
    {
        if (args.Count < 2 || !ulong.TryParse(args[1], NumberStyles.None, CultureInfo.InvariantCulture, out var version))
        {
            output.WriteLine("usage: reproduce VERSION [--run ID] [--experiments DIR]");
            return 2;
        }

        string? Option(string name) => args.Select((a, i) => (a, i)).Where(x => x.a == name && x.i + 1 < args.Count).Select(x => args[x.i + 1]).LastOrDefault();
        var store = new RunStore(Option("--experiments") ?? "experiments");
        var record = Option("--run") is { } id ? store.Find(id) : store.ThatMade(version);
        if (record is null)
        {
            output.WriteLine($"no run in {Path.GetFullPath(store.Directory)} made v{version}{(Option("--run") is { } named ? $" (looked for run {named})" : string.Empty)}");
            return 1;
        }

        if (record.Kind != "simulator")
        {
            output.WriteLine($"run {record.Id} is a {record.Kind} run: only simulations can be re-run (their data and devices are simulated)");
            return 1;
        }

        var target = record.Versions.FirstOrDefault(v => v.Version == version && v.Round > 0);
        if (target is null)
        {
            output.WriteLine($"run {record.Id} did not make v{version} in a round");
            return 1;
        }

        output.WriteLine($"reproducing v{version} from run {record.Id} ({record.StartedAt:u}, commit {record.Code.Commit[..Math.Min(12, record.Code.Commit.Length)]}): {target.Round} rounds of `{string.Join(' ', record.Arguments)}`");
        var options = SimulationOptions.Parse([.. record.Arguments, "--rounds", target.Round.ToString(CultureInfo.InvariantCulture), "--out", "-", "--experiments", "off"]);
        var result = await new SimulationRunner(options, loggers, output).RunAsync(cancellationToken).ConfigureAwait(false);
        var outcome = RunComparison.Reproduction(record, result.Run!, version);
        output.WriteLine(outcome.Identical ? $"v{version}: {outcome.Summary}" : $"v{version}: {outcome.Summary}");
        return outcome.Identical ? 0 : Differs;
    }
}
