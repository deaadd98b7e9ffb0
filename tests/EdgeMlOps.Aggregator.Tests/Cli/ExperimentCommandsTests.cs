using EdgeMlOps.Aggregator.Tracking;
using EdgeMlOps.Shared.Tracking;
using Spectre.Console.Testing;

namespace EdgeMlOps.Aggregator.Tests.Cli;

/// <summary><c>edgemlops experiments list|show|compare</c> over a directory of run records, and <c>reproduce</c> without a simulator.</summary>
public sealed class ExperimentCommandsTests
{
    private readonly RunStore _store = new(Path.Combine(AggregatorFixture.TempDirectory(), "experiments"));

    private static RunRecord Run(string id, string seed, double[] accuracy) => new()
    {
        Id = id,
        Kind = "simulator",
        StartedAt = DateTimeOffset.Parse("2026-12-02T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture).AddMinutes(int.Parse(seed, System.Globalization.CultureInfo.InvariantCulture)),
        Code = new RunCode("0123456789abcdef", "1.0.0"),
        Environment = RunFacts.Environment(),
        Model = new RunModel("digits", "mlp-784-128-10", 784, 10),
        Parameters = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["simulator.seed"] = seed, ["simulator.devices"] = "100", ["strategy.exactSum"] = "true" },
        Arguments = ["--seed", seed],
        Data = new RunData("mnist", "iid", 100, 60000, "f1ngerprint" + seed, new Dictionary<string, long> { ["dev-00000"] = 600 }),
        Rounds = accuracy.Select((a, i) => new RunRound(i + 1, "Completed", (ulong)i + 1, (ulong)i + 2, 10, 10, 6000, a, 0.3, 0.4, 1.5, new Dictionary<string, long>())).ToArray(),
        FinalAccuracy = accuracy[^1],
    };

    private static async Task<(int Exit, string Output)> RunCli(params string[] args)
    {
        var console = new TestConsole().Width(250);
        var exit = await EdgeMlOps.Cli.Cli.RunAsync(args, console);
        return (exit, console.Output);
    }

    [Fact]
    public async Task ListShowCompare_PutRunsSideBySide_WithTheParametersThatDiffer()
    {
        _store.Save(Run("run-a", "1", [0.80, 0.88, 0.91]));
        _store.Save(Run("run-b", "2", [0.79, 0.87, 0.93]));
        File.WriteAllText(Path.Combine(_store.Directory, "notes.json"), "{ not a record");

        var (exit, output) = await RunCli("experiments", "list", "--dir", _store.Directory);
        Assert.Equal(0, exit);
        Assert.Contains("run-a", output, StringComparison.Ordinal);
        Assert.Contains("0.9300", output, StringComparison.Ordinal);
        Assert.Contains("0123456789ab", output, StringComparison.Ordinal);
        Assert.True(output.IndexOf("run-a", StringComparison.Ordinal) < output.IndexOf("run-b", StringComparison.Ordinal), "oldest first");

        (exit, output) = await RunCli("experiments", "show", "run-b", "--dir", _store.Directory);
        Assert.Equal(0, exit);
        Assert.Contains("fingerprint f1ngerprint2", output, StringComparison.Ordinal);
        Assert.Contains("Microsoft.ML.OnnxRuntime", output, StringComparison.Ordinal);
        Assert.Contains("simulator.devices", output, StringComparison.Ordinal);

        (exit, output) = await RunCli("experiments", "compare", "run-a", "run-b", "--dir", _store.Directory);
        Assert.Equal(0, exit);
        var lines = output.Split('\n');
        Assert.Contains(lines, l => l.Contains("simulator.seed", StringComparison.Ordinal) && l.Contains(" 1 ", StringComparison.Ordinal) && l.Contains(" 2 ", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("simulator.devices", StringComparison.Ordinal)); // the same in both: not a difference
        Assert.Contains(lines, l => l.Contains("final accuracy", StringComparison.Ordinal) && l.Contains("0.9100", StringComparison.Ordinal) && l.Contains("0.9300", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.TrimStart('│', ' ').StartsWith("3 ", StringComparison.Ordinal) && l.Contains("0.9100", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UnknownRunsAndDirectories_AreErrorsThatSayWhere()
    {
        var (exit, output) = await RunCli("experiments", "list", "--dir", Path.Combine(_store.Directory, "nowhere"));
        Assert.Equal(1, exit);
        Assert.Contains("no run records in", output, StringComparison.Ordinal);
        _store.Save(Run("run-a", "1", [0.8]));
        (exit, output) = await RunCli("experiments", "show", "run-z", "--dir", _store.Directory);
        Assert.Equal(1, exit);
        Assert.Contains("no run run-z", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Piped_TheInstalledCommandKeepsTableCellsWhole()
    {
        const string LongId = "run-20261202-101010-abcdef-with-a-long-name";
        _store.Save(Run(LongId, "1", [0.8, 0.9]));
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "edgemlops.dll"), "experiments", "list", "--dir", _store.Directory }) start.ArgumentList.Add(a);
        start.Environment.Remove("COLUMNS");
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Equal(0, process.ExitCode);
        Assert.True(output.Contains(LongId, StringComparison.Ordinal), output); // at 80 columns this id was cut over three lines
        Assert.Contains("digits mlp-784-128-10", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reproduce_WithoutASimulatorAtHand_SaysHowToGetOne()
    {
        Environment.SetEnvironmentVariable("EDGEMLOPS_SIMULATOR", null);
        var (exit, output) = await RunCli("reproduce", "3", "--dir", _store.Directory);
        Assert.Equal(1, exit);
        Assert.Contains("EDGEMLOPS_SIMULATOR", output, StringComparison.Ordinal);
    }
}
